"""Service-request fixtures on the shared world (tests/fixtures/world.py): AutoWorks' 24/7
Yizhuang hub with two machines on a rate card (hourly rate, staff surcharge, set-up fee and
one consumable), Precision Parts (SME) and their people, and helpers that make a submitted
or quoted request through the services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from billing.requests import services
from organizations.models import Membership
from tests.factories import (
    EquipmentRateFactory,
    MembershipFactory,
    PricedItemFactory,
    RateCardFactory,
    UserFactory,
)
from tests.fixtures.world import local, make_equipment

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def pdf(name: str = "plan.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


@pytest.fixture
def second_equipment(hub, category):
    return make_equipment(hub, category, "robot-1", name="Robot cell")


@pytest.fixture
def rate_card(hub, equipment, second_equipment):
    card = RateCardFactory(hub=hub, name="2026 rates")
    EquipmentRateFactory(card=card, equipment=equipment, hourly_rate=Decimal("400.00"),
                         assisted_hourly_surcharge=Decimal("100.00"),
                         setup_fee=Decimal("80.00"))
    EquipmentRateFactory(card=card, equipment=second_equipment, hourly_rate=Decimal("300.00"),
                         assisted_hourly_surcharge=Decimal("0.00"), setup_fee=Decimal("0.00"))
    PricedItemFactory(card=card, code="ti-bar", name="Titanium bar stock",
                      unit_price=Decimal("12.50"))
    return card


@pytest.fixture
def sme_user(sme):
    return MembershipFactory(organization=sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@precision.test")).user


@pytest.fixture
def other_sme_user(other_sme):
    return MembershipFactory(organization=other_sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@greenmotor.test")).user


@pytest.fixture
def operator_user(operator):
    return MembershipFactory(organization=operator, role=Membership.Role.OPERATOR,
                             user=UserFactory(email="floor@autoworks.test")).user


@pytest.fixture
def other_operator_user(other_operator):
    return MembershipFactory(organization=other_operator, role=Membership.Role.OPERATOR,
                             user=UserFactory(email="floor@phonetech.test")).user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(sme, hub, pieces, *, by_user=None, days: int = 5, **extra):
    fields = dict(organization=sme, hub_slug=hub.slug, title="Bracket trial",
                  plan="Rough and finish 20 titanium brackets; inspect on the robot cell.",
                  equipment_ids=[p.pk for p in pieces], preferred_start=local(days, 9),
                  preferred_end=local(days, 17), by_user=by_user)
    fields.update(extra)
    return services.submit_request(**fields)


def offer_periods(pieces, *, days: int = 5, start_hour: int = 9, hours: int = 2):
    """One period per piece, one after the other on day ``days``."""
    periods = []
    for n, piece in enumerate(pieces):
        start = local(days, start_hour + n * hours)
        periods.append((piece.pk, start, start + timedelta(hours=hours)))
    return periods


def quote(service_request, operator, *, items=(("ti-bar", 4),), valid_days: int = 3,
          by_user=None, **kw):
    pieces = list(service_request.equipment.order_by("pk"))
    return services.send_offer(
        request_id=service_request.pk, operator=operator,
        periods=kw.pop("periods", None) or offer_periods(pieces),
        items=items, note="Staff run both machines.",
        valid_until=local(valid_days, 18), by_user=by_user, **kw)


@pytest.fixture
def submitted(sme, hub, equipment, second_equipment, rate_card, sme_user):
    return submit(sme, hub, [equipment, second_equipment], by_user=sme_user)


@pytest.fixture
def quoted(submitted, operator, operator_user):
    return quote(submitted, operator, by_user=operator_user)
