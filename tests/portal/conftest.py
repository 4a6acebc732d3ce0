"""Portal fixtures: a verified SME with an admin and a member, another SME, a hub open
around the clock in Asia/Shanghai with one machine, and helpers for local times, past
bookings and collected trials. Built from the factories; no API keys."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from bookings.models import Booking, BookingEvent
from organizations.models import Membership
from tests.factories import (
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from trials import ingest
from trials.models import Measurement, Trial

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(days: int, hour: int, minute: int = 0) -> datetime:
    """``days`` from today at hh:mm, Shanghai time (aware)."""
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=days)).replace(hour=hour, minute=minute)


def form_time(moment: datetime) -> str:
    """What a datetime-local input sends: wall-clock time in the hub's zone."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(autouse=True)
def _plain_http(settings):
    """With DEBUG off (the PostgreSQL run) production redirects plain HTTP to HTTPS; the
    test client speaks plain HTTP, as the proxy would to the app."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def sme(db):
    return OrganizationFactory(name="Precision Parts", slug="precision")


@pytest.fixture
def other_sme(db):
    return OrganizationFactory(name="Green Motor", slug="greenmotor")


@pytest.fixture
def operator(db):
    return OrganizationFactory(flagship=True, name="AutoWorks", slug="autoworks")


@pytest.fixture
def admin_user(sme):
    return MembershipFactory(organization=sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@precision.test")).user


@pytest.fixture
def member_user(sme):
    return MembershipFactory(organization=sme, role=Membership.Role.MEMBER,
                             user=UserFactory(email="engineer@precision.test")).user


@pytest.fixture
def other_user(other_sme):
    return MembershipFactory(organization=other_sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@greenmotor.test")).user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_sme(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def client_other(other_user):
    return logged_in(other_user)


@pytest.fixture
def hub(operator):
    return HubFactory(operator=operator, name="Yizhuang Hub", slug="yizhuang",
                      timezone="Asia/Shanghai")


@pytest.fixture
def category(db):
    return CategoryFactory(name="CNC machining", slug="cnc-machining")


@pytest.fixture
def equipment(hub, category):
    return EquipmentFactory(hub=hub, category=category, name="DMU 50", slug="dmu-50",
                            hourly_rate=Decimal("400.00"), slot_granularity=30,
                            min_duration=60, max_duration=480, lead_time=0,
                            booking_horizon=60)


def make_booking(equipment, organization, start, end, *, status=Booking.Status.CONFIRMED,
                 user=None) -> Booking:
    """A booking row written directly (the past cannot be booked through the service)."""
    booking = Booking.objects.create(
        equipment=equipment, organization=organization, requested_by=user, trial_lead=user,
        start=start, end=end, blocked_until=end, status=status, purpose="Trial plan",
        price=Decimal("100.00"))
    BookingEvent.objects.create(booking=booking, code=f"booking.{status}", from_status="",
                                to_status=status, at=start - timedelta(days=1),
                                actor_organization=organization, actor_user=user)
    return booking


def collected_trial(booking: Booking, *, metrics=("spindle_load", "vibration_rms"),
                    readings: int = 30) -> Trial:
    """A completed booking's trial with ``readings`` per metric, summarised."""
    trial = Trial.objects.create(booking=booking)
    step = (booking.end - booking.start) / max(readings, 1)
    Measurement.objects.bulk_create([
        Measurement(trial=trial, ts=booking.start + i * step, metric=metric,
                    value=50 + 10 * math.sin(i / 7) + j, unit="%" if j == 0 else "mm/s")
        for j, metric in enumerate(metrics) for i in range(readings)])
    trial.summary = ingest.summarize(trial)
    trial.measurement_count = readings * len(metrics)
    trial.status = Trial.Status.COLLECTED
    trial.collected_at = timezone.now()
    trial.save()
    return trial


@pytest.fixture
def past_booking(equipment, sme, admin_user):
    start = local(-3, 9)
    booking = make_booking(equipment, sme, start, start + timedelta(hours=3),
                           status=Booking.Status.COMPLETED, user=admin_user)
    return booking


@pytest.fixture
def trial(past_booking):
    return collected_trial(past_booking)


@pytest.fixture
def other_trial(equipment, other_sme, other_user):
    start = local(-4, 9)
    booking = make_booking(equipment, other_sme, start, start + timedelta(hours=2),
                           status=Booking.Status.COMPLETED, user=other_user)
    return collected_trial(booking)
