"""A small but complete world for the security tests, built from real rows.

Two "constellations" A and B, each: a flagship operator with a hub and two pieces of
equipment (one bookable at once, one needing approval), an SME with bookings in every
state that an API action needs (requested, confirmed, due for check-in, checked in,
completed with a collected trial), a university with a sharing agreement, the SME's
consent and a delivered dataset release with its package file, a maintenance window, an
operator webhook endpoint and a calendar feed for every organisation. Callers act for
constellation A; constellation B holds "another organisation's objects".

Every outbound address is on the loopback discard port, and ``_loopback_only`` refuses
name resolution of anything else, so nothing a test (or a fuzzer) does can reach out.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files import File
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import ClaimLine, ServiceRequest, SettlementClaim, Statement, StatementLine
from billing.requests import services as request_services
from bookings.models import Booking, CalendarFeed
from core import webhooks
from core.models import DeliveryLog, OutboxMessage, WebhookEndpoint
from equipment.models import Category, Equipment, Hub, MaintenanceWindow
from organizations.models import Organization
from pricing.models import Quote, VoucherGrant, VoucherProgramme
from tests.factories import (
    BookingFactory,
    ConsentFactory,
    EquipmentFactory,
    HubFactory,
    MaintenanceWindowFactory,
    OrganizationFactory,
    QuoteFactory,
    QuoteLineFactory,
    SharingAgreementFactory,
    TrialFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
    WebhookEndpointFactory,
    api_key_for,
    booked_quote,
    quote_totals,
)
from trials import packages
from trials.models import Consent, DatasetRelease, SharingAgreement, Trial

KINDS = ("flagship", "sme", "university")
# Nothing listens on the discard port: deliveries fail fast and stay on this machine.
DEAD_END = "http://127.0.0.1:9/hooks"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Security tests (the fuzzer above all) may never reach beyond this machine."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK and not name.startswith("127."):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no network in security tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Money:
    """The side's money objects: a voucher programme accrediting its hub and a grant to its
    SME, an SME's estimate, a service request, an issued statement and a draft claim."""

    programme: VoucherProgramme
    grant: VoucherGrant
    quote: Quote
    service_request: ServiceRequest
    quoted_request: ServiceRequest  # answered with an offer the SME can accept
    statement: Statement
    claim: SettlementClaim


@dataclass
class Side:
    """One constellation: its organisations, their keys and every object the API names."""

    operator: Organization
    sme: Organization
    university: Organization
    keys: dict[str, str]
    hub: Hub
    equipment: Equipment
    approval_equipment: Equipment
    requested: Booking
    confirmed: Booking
    due: Booking  # confirmed, starting in a few minutes: check-in is open
    checked_in: Booking
    completed: Booking
    trial: Trial
    agreement: SharingAgreement
    consent: Consent
    release: DatasetRelease
    window: MaintenanceWindow
    webhook: WebhookEndpoint
    feeds: dict[str, CalendarFeed] = field(default_factory=dict)
    money: Money | None = None

    def org(self, kind: str) -> Organization:
        return {"flagship": self.operator, "sme": self.sme, "university": self.university}[kind]


@dataclass
class World:
    a: Side
    b: Side
    category: Category
    now: datetime

    def side(self, ownership: str) -> Side:
        return self.a if ownership == "own" else self.b

    def client(self, kind: str | None) -> APIClient:
        """A client acting for constellation A's organisation of ``kind`` (None: no key)."""
        client = APIClient()
        if kind is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.a.keys[kind]}")
        return client


def _booking(equipment, sme, start, hours, status, **extra) -> Booking:
    return BookingFactory(equipment=equipment, organization=sme, start=start,
                          end=start + timedelta(hours=hours), status=status,
                          purpose=f"Trial plan of {sme.slug}", events=True, **extra)


def _delivery(webhook: WebhookEndpoint, now: datetime) -> None:
    """One message to the endpoint, retried after a failed attempt (its deliveries list)."""
    message = OutboxMessage.objects.create(
        channel=OutboxMessage.Channel.WEBHOOK, event_type="booking.confirmed",
        dedupe_key=f"world:{webhook.pk}", recipient=webhook.url, endpoint=webhook,
        message_id=webhooks.new_message_id(), payload={"data": {}}, attempts=1,
        next_attempt_at=now + timedelta(minutes=1), last_error="Connection refused")
    DeliveryLog.objects.create(message=message, at=now, error="Connection refused")


def _side(name: str, category: Category, now: datetime) -> Side:
    operator = OrganizationFactory(flagship=True, name=f"Operator {name}",
                                   slug=f"operator-{name}")
    sme = OrganizationFactory(sme=True, name=f"SME {name}", slug=f"sme-{name}")
    university = OrganizationFactory(university=True, name=f"University {name}",
                                      slug=f"university-{name}")
    keys = {kind: api_key_for(org, name="security")
            for kind, org in (("flagship", operator), ("sme", sme), ("university", university))}
    hub = HubFactory(operator=operator, name=f"Hub {name}", slug=f"hub-{name}",
                     timezone="Asia/Shanghai")
    policy = dict(slot_granularity=30, min_duration=60, max_duration=480, lead_time=0,
                  booking_horizon=60, changeover_buffer=0, hourly_rate=Decimal("400.00"))
    equipment = EquipmentFactory(hub=hub, category=category, name=f"CNC {name}",
                                 slug=f"cnc-{name}", **policy)
    approval = EquipmentFactory(hub=hub, category=category, name=f"Robot {name}",
                                slug=f"robot-{name}", approval_required=True, **policy)
    S = Booking.Status
    requested = _booking(approval, sme, now + timedelta(days=2), 2, S.REQUESTED)
    confirmed = _booking(equipment, sme, now + timedelta(days=2), 2, S.CONFIRMED,
                         decided_at=now)
    due = _booking(equipment, sme, timezone.now() + timedelta(minutes=10), 1, S.CONFIRMED,
                   decided_at=now)
    checked_in = _booking(equipment, sme, now - timedelta(hours=3), 2, S.CHECKED_IN,
                          decided_at=now - timedelta(days=1),
                          checked_in_at=now - timedelta(hours=3))
    completed = _booking(equipment, sme, now - timedelta(days=2), 2, S.COMPLETED,
                         decided_at=now - timedelta(days=3),
                         checked_in_at=now - timedelta(days=2),
                         completed_at=now - timedelta(days=2) + timedelta(hours=2))
    for booking in (confirmed, due, checked_in):
        TrialFactory(booking=booking)
    trial = TrialFactory(booking=completed, collected=True, measurements=12)

    agreement = SharingAgreementFactory(
        operator=operator, university=university, hub=hub, title=f"Agreement {name}",
        embargo_days=0, endpoint_url=DEAD_END, valid_from=now - timedelta(days=365),
        categories=[category])
    consent = ConsentFactory(trial=trial, agreement=agreement, granted_at=now)
    release = DatasetRelease.objects.create(
        trial=trial, agreement=agreement, status=DatasetRelease.Status.DELIVERED,
        webhook_id=webhooks.new_message_id(), delivered_at=now)
    built = packages.build(release)
    release.package.save(f"release-{release.pk}.zip", File(built.file), save=False)
    release.sha256, release.size, release.row_count = built.sha256, built.size, built.rows
    release.save()

    window = MaintenanceWindowFactory(equipment=equipment, start=now + timedelta(days=10))
    webhook = WebhookEndpointFactory(organization=operator, url=DEAD_END)
    _delivery(webhook, now)
    feeds = {kind: CalendarFeed.objects.create(organization=org, name=f"feed {kind}",
                                               token=f"token-{name}-{kind}")
             for kind, org in (("flagship", operator), ("sme", sme), ("university", university))}
    return Side(operator=operator, sme=sme, university=university, keys=keys, hub=hub,
                equipment=equipment, approval_equipment=approval, requested=requested,
                confirmed=confirmed, due=due, checked_in=checked_in, completed=completed,
                trial=trial, agreement=agreement, consent=consent, release=release,
                window=window, webhook=webhook, feeds=feeds,
                money=_money(name, hub, sme, operator, equipment, completed, now))


def _money(name, hub, sme, operator, equipment, completed, now) -> Money:
    programme = VoucherProgrammeFactory(reference=f"CXQ-{name}", providers=[hub])
    grant = VoucherGrantFactory(programme=programme, organization=sme,
                                reference_number=f"G-{name}")
    booked_quote(completed, grant=grant, voucher_share=completed.price / 2)
    quote = QuoteFactory(hub=hub, organization=sme, start=now + timedelta(days=5),
                         end=now + timedelta(days=5, hours=2),
                         valid_until=now + timedelta(days=14))
    QuoteLineFactory(quote=quote, position=1, equipment=equipment, start=quote.start,
                     end=quote.end, unit_price=equipment.hourly_rate)
    quote_totals(quote)
    request = request_services.submit_request(
        organization=sme, hub_id=hub.pk, title=f"Assisted trial {name}",
        plan="Bracket roughing", equipment_ids=[equipment.pk],
        preferred_start=now + timedelta(days=7), preferred_end=now + timedelta(days=8))
    quoted = request_services.submit_request(
        organization=sme, hub_id=hub.pk, title=f"Assisted trial {name} (offered)",
        plan="Fixture trial", equipment_ids=[equipment.pk],
        preferred_start=now + timedelta(days=13), preferred_end=now + timedelta(days=14))
    offered = now + timedelta(days=13)
    request_services.send_offer(
        request_id=quoted.pk, operator=operator,
        periods=[(equipment.pk, offered, offered + timedelta(hours=2))],
        valid_until=now + timedelta(days=3))
    line = completed.quote.lines.get()
    day = timezone.localdate(completed.start, ZoneInfo(hub.timezone))
    statement = Statement.objects.create(
        operator=operator, organization=sme, month=day.replace(day=1),
        year=day.year, number=1, total=line.amount,
        voucher_total=line.voucher_share, sme_total=line.sme_share, issued_at=now)
    StatementLine.objects.create(
        statement=statement, position=1, booking=completed, quote_line=line,
        line_kind=line.kind, service_date=day, quantity=line.quantity,
        unit=line.unit, unit_price=line.unit_price, amount=line.amount,
        voucher_share=line.voucher_share, sme_share=line.sme_share, grant=grant)
    claim = SettlementClaim.objects.create(
        programme=programme, provider=operator, month=statement.month,
        amount=line.voucher_share)
    ClaimLine.objects.create(claim=claim, booking=completed, grant=grant,
                             amount=line.voucher_share)
    return Money(programme=programme, grant=grant, quote=quote, service_request=request,
                 quoted_request=quoted, statement=statement, claim=claim)


def build_world() -> World:
    # Whole hours, so every time sits on the equipment's 30-minute grid (the booking due
    # for check-in starts 10 minutes from the real now, off the grid, as the ORM allows).
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    category, _ = Category.objects.get_or_create(slug="cnc", defaults={"name": "CNC machining"})
    return World(a=_side("a", category, now), b=_side("b", category, now), category=category,
                 now=now)


@pytest.fixture
def world(db) -> World:
    return build_world()
