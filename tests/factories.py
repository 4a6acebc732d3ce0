"""factory_boy factories, one per model. Defaults make a valid, minimal row; pass what a
test cares about."""

from __future__ import annotations

import copy
import math
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from bookings.models import Booking, BookingEvent
from bookings.policy import price_quote
from core import webhooks
from core.models import WebhookEndpoint
from equipment.hours import ALWAYS_OPEN
from equipment.models import Capability, Category, Equipment, Hub, MaintenanceWindow, Qualification
from organizations.models import Membership, Organization, OrganizationAPIKey
from organizations.services import create_api_key
from organizations.validators import USCC_ALPHABET, uscc_check_character
from pricing.models import (
    Affiliation,
    EquipmentRate,
    PricedItem,
    Quote,
    QuoteLine,
    RateCard,
    Unit,
    VoucherGrant,
    VoucherProgramme,
)
from trials import ingest
from trials.models import AgreementVersion, Consent, SharingAgreement, Trial
from trials.parsing import Row

TEST_PASSWORD = "test-pass-123"


def credit_code(n: int, prefix: str = "91110000") -> str:
    """The ``n``-th valid unified social credit code under ``prefix`` (type + region)."""
    body = ""
    for _ in range(9):
        n, digit = divmod(n, len(USCC_ALPHABET))
        body = USCC_ALPHABET[digit] + body
    first17 = prefix + body
    return first17 + uscc_check_character(first17)


def next_hour(hours: int = 24):
    """A whole hour ``hours`` from now (UTC), so times sit on any slot granularity."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=hours)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    username = factory.SelfAttribute("email")
    password = factory.django.Password(TEST_PASSWORD)


class OrganizationFactory(DjangoModelFactory):
    """An SME by default; ``OrganizationFactory(flagship=True)`` or ``kind=…`` for others."""

    class Meta:
        model = Organization

    class Params:
        flagship = factory.Trait(kind=Organization.Kind.FLAGSHIP)
        sme = factory.Trait(kind=Organization.Kind.SME)
        university = factory.Trait(kind=Organization.Kind.UNIVERSITY)

    kind = Organization.Kind.SME
    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    credit_code = factory.Sequence(credit_code)
    verified = True


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER


class HubFactory(DjangoModelFactory):
    """Open around the clock unless a test gives ``opening_hours``."""

    class Meta:
        model = Hub

    operator = factory.SubFactory(OrganizationFactory, flagship=True)
    name = factory.Sequence(lambda n: f"Hub {n}")
    slug = factory.Sequence(lambda n: f"hub-{n}")
    address = "1 Test Road, Beijing"
    timezone = "Asia/Shanghai"
    opening_hours = factory.LazyFunction(lambda: copy.deepcopy(ALWAYS_OPEN))


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class CapabilityFactory(DjangoModelFactory):
    class Meta:
        model = Capability
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Capability {n}")
    slug = factory.Sequence(lambda n: f"capability-{n}")


class EquipmentFactory(DjangoModelFactory):
    """``EquipmentFactory(capabilities=[cap, …])`` sets the many-to-many after saving."""

    class Meta:
        model = Equipment
        skip_postgeneration_save = True

    hub = factory.SubFactory(HubFactory)
    name = factory.Sequence(lambda n: f"Machine {n}")
    slug = factory.Sequence(lambda n: f"machine-{n}")
    category = factory.SubFactory(CategoryFactory)
    hourly_rate = Decimal("100.00")
    slot_granularity = 30
    min_duration = 60
    max_duration = 480

    @factory.post_generation
    def capabilities(self, create, extracted, **kwargs):
        if create and extracted:
            self.capabilities.set(extracted)


class MaintenanceWindowFactory(DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow

    equipment = factory.SubFactory(EquipmentFactory)
    start = factory.LazyFunction(next_hour)
    end = factory.LazyAttribute(lambda o: o.start + timedelta(hours=2))
    reason = "Spindle service"


class QualificationFactory(DjangoModelFactory):
    """For one piece of equipment; pass ``equipment=None, category=…`` for a category."""

    class Meta:
        model = Qualification

    user = factory.SubFactory(UserFactory)
    equipment = factory.SubFactory(EquipmentFactory)
    category = None


def api_key_for(organization: Organization, name: str = "test") -> str:
    """A fresh API key of ``organization`` (through the service, as the admin and the
    command make them); returns the secret to send as ``Authorization: Bearer …``."""
    return create_api_key(organization=organization, name=name)[1]


class OrganizationAPIKeyFactory(DjangoModelFactory):
    """The key row; its secret is in ``key._secret`` (use ``api_key_for`` when only the
    secret matters)."""

    class Meta:
        model = OrganizationAPIKey

    organization = factory.SubFactory(OrganizationFactory)
    name = "test"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        key, secret = create_api_key(**kwargs)
        key._secret = secret
        return key


class BookingFactory(DjangoModelFactory):
    """A booking row as ``create_booking`` writes it: ``blocked_until`` is the end plus the
    equipment's changeover buffer, the price is the quote; confirmed, two hours, tomorrow
    by default. Rows in the past (which the service refuses) are written directly; pass
    ``status`` and the timestamps the status implies (``checked_in_at``, ``completed_at``…).
    ``events=True`` also records the event of reaching the status."""

    class Meta:
        model = Booking
        skip_postgeneration_save = True

    equipment = factory.SubFactory(EquipmentFactory)
    organization = factory.SubFactory(OrganizationFactory)
    operator = factory.LazyAttribute(lambda o: o.equipment.hub.operator)
    start = factory.LazyFunction(next_hour)
    end = factory.LazyAttribute(lambda o: o.start + timedelta(hours=2))
    blocked_until = factory.LazyAttribute(
        lambda o: o.end + timedelta(minutes=o.equipment.changeover_buffer))
    status = Booking.Status.CONFIRMED
    purpose = "Trial plan"
    price = factory.LazyAttribute(lambda o: price_quote(o.equipment, o.start, o.end))

    @factory.post_generation
    def events(self, create, extracted, **kwargs):
        if create and extracted:
            BookingEventFactory(booking=self, at=self.start - timedelta(days=1),
                                actor_organization=self.organization,
                                actor_user=self.requested_by)


class BookingEventFactory(DjangoModelFactory):
    """The booking reaching its current status (as the service's ``_record`` writes it)."""

    class Meta:
        model = BookingEvent

    booking = factory.SubFactory(BookingFactory)
    organization = factory.LazyAttribute(lambda o: o.booking.organization)
    operator = factory.LazyAttribute(lambda o: o.booking.operator)
    code = factory.LazyAttribute(lambda o: f"booking.{o.booking.status}")
    from_status = ""
    to_status = factory.LazyAttribute(lambda o: o.booking.status)
    at = factory.LazyFunction(timezone.now)


def _add_readings(trial: Trial, create: bool, readings: int | None,
                  metrics=("spindle_load", "vibration_rms")) -> None:
    """``readings`` measurements per metric spread over the booking, and their summary."""
    if not (create and readings):
        return
    step = (trial.booking.end - trial.booking.start) / readings
    stamps = [trial.booking.start + i * step for i in range(readings)]
    ingest.store_measurements(trial, [  # the dictionary and the rows, as a collection does
        Row(ts.isoformat(), ts, metric, 50 + 10 * math.sin(i / 7) + j,
            "%" if j == 0 else "mm/s")
        for j, metric in enumerate(metrics) for i, ts in enumerate(stamps)])
    trial.summary = ingest.summarize(trial)
    trial.measurement_count = readings * len(metrics)
    trial.save()


class TrialFactory(DjangoModelFactory):
    """A pending trial of a completed booking (three days ago). ``TrialFactory(collected=
    True)`` is collected: 30 readings per metric spread over the booking and their summary,
    as a collection writes them (``measurements=N``, ``measurements__metrics=(…)`` for
    others)."""

    class Meta:
        model = Trial
        skip_postgeneration_save = True

    class Params:
        collected = False

    booking = factory.SubFactory(
        BookingFactory, status=Booking.Status.COMPLETED,
        start=factory.LazyFunction(lambda: next_hour(-72)))
    status = factory.Maybe("collected", Trial.Status.COLLECTED, Trial.Status.PENDING)
    collected_at = factory.Maybe("collected", factory.LazyAttribute(lambda o: o.booking.end),
                                 None)
    measurements = factory.Maybe(
        "collected",
        factory.PostGeneration(lambda trial, create, extracted, **kw: _add_readings(
            trial, create, 30 if extracted is None else extracted, **kw)),
        factory.PostGeneration(_add_readings))


class SharingAgreementFactory(DjangoModelFactory):
    """An agreement as ``create_agreement`` makes it: a fresh signing secret, its
    categories (``categories=[…]``; default: one new category) and version 1 of its terms
    (an ``AgreementVersion`` row)."""

    class Meta:
        model = SharingAgreement
        skip_postgeneration_save = True

    operator = factory.SubFactory(OrganizationFactory, flagship=True)
    university = factory.SubFactory(OrganizationFactory, university=True)
    hub = factory.SubFactory(HubFactory, operator=factory.SelfAttribute("..operator"))
    title = factory.Sequence(lambda n: f"Agreement {n}")
    endpoint_url = "https://university.example/hooks/testbed"
    signing_secret = factory.LazyFunction(webhooks.new_secret)
    valid_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=365))

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if not create:
            return
        self.categories.set(extracted if extracted is not None else [CategoryFactory()])
        AgreementVersion.objects.create(agreement=self, number=self.version,
                                        terms=self.terms())


class ConsentFactory(DjangoModelFactory):
    """An active consent, bound to the agreement's current version (as the model does)."""

    class Meta:
        model = Consent

    trial = factory.SubFactory(TrialFactory)
    agreement = factory.SubFactory(SharingAgreementFactory)
    granted_at = factory.LazyFunction(timezone.now)


class WebhookEndpointFactory(DjangoModelFactory):
    """An operator's endpoint for every booking event, with a fresh signing secret."""

    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory, flagship=True)
    url = "https://operator.example/hooks/testbed"
    event_types = factory.LazyFunction(lambda: ["booking.*"])
    secret = factory.LazyFunction(webhooks.new_secret)


class SpecLabelFactory(DjangoModelFactory):
    """A word of the catalogue's dictionary: ``SpecLabelFactory(key="travel_mm",
    label_en="Travel", label_zh_hans="行程", unit="mm")``."""

    class Meta:
        model = "equipment.SpecLabel"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"spec_{n}")
    label_en = factory.Sequence(lambda n: f"Spec {n}")


class MetricFactory(DjangoModelFactory):
    """A metric's name in words: ``MetricFactory(key="cycle_time", label_en="Cycle time",
    label_zh_hans="节拍时间", unit="s")``."""

    class Meta:
        model = "equipment.Metric"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"metric_{n}")
    label_en = factory.Sequence(lambda n: f"Metric {n}")


# --- money (pricing) --------------------------------------------------------------------


class RateCardFactory(DjangoModelFactory):
    class Meta:
        model = RateCard

    hub = factory.SubFactory(HubFactory)
    name = factory.Sequence(lambda n: f"Rates {n}")
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=365))


class EquipmentRateFactory(DjangoModelFactory):
    class Meta:
        model = EquipmentRate

    card = factory.SubFactory(RateCardFactory)
    equipment = factory.SubFactory(EquipmentFactory, hub=factory.SelfAttribute("..card.hub"))
    hourly_rate = Decimal("100.00")
    assisted_hourly_surcharge = Decimal("50.00")
    setup_fee = Decimal("80.00")


class PricedItemFactory(DjangoModelFactory):
    class Meta:
        model = PricedItem

    card = factory.SubFactory(RateCardFactory)
    code = factory.Sequence(lambda n: f"item-{n}")
    name = factory.Sequence(lambda n: f"Item {n}")
    unit = Unit.PIECE
    unit_price = Decimal("12.50")


class VoucherProgrammeFactory(DjangoModelFactory):
    """50 %, 200,000 a year per firm, valid this year and the next; ``providers=[hub…]`` and
    ``categories=[…]`` set the many-to-many after saving (no categories: every one)."""

    class Meta:
        model = VoucherProgramme
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Innovation voucher {n}")
    issuer = "Beijing Municipal Science & Technology Commission"
    reference = factory.Sequence(lambda n: f"BJ-CXQ-{n:04d}")
    subsidy_share = Decimal("0.5000")
    cap_per_sme_year = Decimal("200000.00")
    cap_per_use = None
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=365))
    valid_until = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=365))

    @factory.post_generation
    def providers(self, create, extracted, **kwargs):
        if create and extracted:
            self.providers.set(extracted)

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if create and extracted:
            self.categories.set(extracted)


class VoucherGrantFactory(DjangoModelFactory):
    class Meta:
        model = VoucherGrant

    programme = factory.SubFactory(VoucherProgrammeFactory)
    organization = factory.SubFactory(OrganizationFactory)
    reference_number = factory.Sequence(lambda n: f"G-{n:05d}")
    amount = Decimal("10000.00")
    valid_from = factory.LazyAttribute(lambda o: o.programme.valid_from)
    valid_until = factory.LazyAttribute(lambda o: o.programme.valid_until)


class AffiliationFactory(DjangoModelFactory):
    class Meta:
        model = Affiliation

    organization = factory.SubFactory(OrganizationFactory)
    affiliate = factory.SubFactory(OrganizationFactory, flagship=True)
    kind = Affiliation.Kind.OWNERSHIP


class QuoteFactory(DjangoModelFactory):
    """A quote row with no lines (add ``QuoteLineFactory`` rows and call ``quote_totals``),
    or ``booked_quote(booking, …)`` for a booking's own priced lines."""

    class Meta:
        model = Quote

    kind = Quote.Kind.ESTIMATE
    status = Quote.Status.OPEN
    hub = factory.SubFactory(HubFactory)
    organization = factory.SubFactory(OrganizationFactory)
    start = factory.LazyFunction(next_hour)
    end = factory.LazyAttribute(lambda o: o.start + timedelta(hours=2))


class QuoteLineFactory(DjangoModelFactory):
    class Meta:
        model = QuoteLine

    quote = factory.SubFactory(QuoteFactory)
    position = factory.Sequence(lambda n: n + 1)
    kind = QuoteLine.Kind.USAGE
    quantity = Decimal("2")
    unit = Unit.HOUR
    unit_price = Decimal("100.00")
    amount = factory.LazyAttribute(lambda o: o.quantity * o.unit_price)
    voucher_share = Decimal("0.00")
    sme_share = factory.LazyAttribute(lambda o: o.amount - o.voucher_share)


def quote_totals(quote: Quote) -> Quote:
    """Set a factory-made quote's totals from its lines (what the pricing service does)."""
    lines = list(quote.lines.all())
    quote.total = sum((li.amount for li in lines), Decimal("0.00"))
    quote.voucher_total = sum((li.voucher_share for li in lines), Decimal("0.00"))
    quote.sme_total = sum((li.sme_share for li in lines), Decimal("0.00"))
    quote.save(update_fields=["total", "voucher_total", "sme_total"])
    return quote


def booked_quote(booking: Booking, *, grant: VoucherGrant | None = None,
                 voucher_share: Decimal = Decimal("0.00"),
                 status: str = Quote.Status.BOOKED) -> Quote:
    """Give a factory-made booking one usage line at its equipment's hourly rate (its
    ``price``), ``voucher_share`` of it paid by ``grant`` (whose ``used`` grows by it when
    the quote is booked), and attach the quote to the booking."""
    quote = QuoteFactory(kind=Quote.Kind.BOOKING, status=status,
                         hub=booking.equipment.hub, organization=booking.organization,
                         start=booking.start, end=booking.end, grant=grant)
    hours = Decimal((booking.end - booking.start) // timedelta(seconds=1)) / Decimal(3600)
    QuoteLineFactory(quote=quote, position=1, equipment=booking.equipment,
                     start=booking.start, end=booking.end, quantity=hours,
                     unit_price=booking.equipment.hourly_rate, amount=booking.price,
                     voucher_share=voucher_share)
    quote_totals(quote)
    if grant is not None and status == Quote.Status.BOOKED and voucher_share:
        grant.used += voucher_share
        grant.save(update_fields=["used"])
    booking.quote = quote
    booking.save(update_fields=["quote"])
    return quote
