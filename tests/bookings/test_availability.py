"""Availability: free periods never overlap bookings, maintenance or closed hours, and
any returned free period can be booked. Property-based with hypothesis."""

import contextlib
import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import services
from bookings.models import Booking
from bookings.policy import OPEN_BOOKINGS_LIMIT, is_aligned
from bookings.selectors import free_intervals
from core.errors import DomainError, ValidationFailed
from equipment.hours import open_intervals
from equipment.models import Equipment, MaintenanceWindow
from tests.factories import BookingFactory, MaintenanceWindowFactory
from tests.fixtures.world import key_client, local, make_equipment

pytestmark = pytest.mark.django_db
URL = "/api/v1/equipment/{}/availability/"


def q(moment):
    return moment.isoformat().replace("+", "%2B")


def test_free_periods_leave_out_bookings_with_buffer(hub, category, sme, sme_client):
    eq = make_equipment(hub, category, "buffered", changeover_buffer=30)
    services.create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 10),
                            end=local(2, 12), purpose="x")
    r = sme_client.get(URL.format(eq.pk) + f"?start={q(local(2, 8))}&end={q(local(2, 16))}")
    assert r.status_code == 200
    body = r.json()
    assert body["free"] == [
        {"start": local(2, 8).isoformat(), "end": local(2, 9, 30).isoformat()},
        {"start": local(2, 12, 30).isoformat(), "end": local(2, 16).isoformat()},
    ]
    assert body["timezone"] == "Asia/Shanghai" and body["slot_granularity"] == 30


def test_range_is_capped(sme_client, equipment):
    r = sme_client.get(URL.format(equipment.pk) + f"?start={q(local(1, 0))}&end={q(local(94, 0))}")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid"
    assert r.json()["errors"] == {"end": ["Ask for at most 92 days at a time."]}


def test_a_quarter_is_one_question(sme_client, equipment):
    """92 days (thirteen weeks and a day) in one call, free up to the booking horizon."""
    equipment.booking_horizon = 120
    equipment.save()
    BookingFactory(equipment=equipment, start=local(80, 9), end=local(80, 11))
    r = sme_client.get(URL.format(equipment.pk) + f"?start={q(local(1, 0))}&end={q(local(93, 0))}")
    assert r.status_code == 200
    assert r.json()["free"] == [
        {"start": local(1, 0).isoformat(), "end": local(80, 9).isoformat()},
        {"start": local(80, 11).isoformat(), "end": local(93, 0).isoformat()},
    ]


def test_naive_and_missing_params(sme_client, equipment):
    assert sme_client.get(URL.format(equipment.pk) + "?start=2030-01-01T00:00:00"
                          "&end=2030-01-02T00:00:00").status_code == 400
    assert sme_client.get(URL.format(equipment.pk)).status_code == 400


def test_unknown_equipment_is_404(sme_client):
    r = sme_client.get(URL.format(999999) + f"?start={q(local(1, 0))}&end={q(local(2, 0))}")
    assert r.status_code == 404


def test_availability_costs_two_queries(sme_client, equipment, django_assert_max_num_queries):
    sme_client.get("/api/v1/bookings/")  # warm the key's last-used write
    # auth + equipment with hub + one UNION query for bookings and maintenance
    with django_assert_max_num_queries(3):
        sme_client.get(URL.format(equipment.pk) + f"?start={q(local(1, 0))}&end={q(local(31, 0))}")


def test_an_sme_at_its_open_bookings_limit_is_offered_nothing(hub, category, sme, other_sme,
                                                              sme_client):
    """Availability agrees with creation on the open-bookings limit: the SME that holds as
    many open bookings as the equipment allows sees no free time (creation would refuse
    it), another SME still does."""
    eq = make_equipment(hub, category, "limited", max_open_bookings_per_sme=1)
    BookingFactory(equipment=eq, organization=sme, start=local(5, 10), end=local(5, 12))
    url = URL.format(eq.pk) + f"?start={q(local(2, 8))}&end={q(local(2, 16))}"
    r = sme_client.get(url)
    assert r.status_code == 200 and r.json()["free"] == []
    other = key_client(other_sme).get(url)
    assert other.status_code == 200
    assert other.json()["free"] == [{"start": local(2, 8).isoformat(),
                                     "end": local(2, 16).isoformat()}]
    with pytest.raises(ValidationFailed) as refused:
        services.create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 8),
                                end=local(2, 10), purpose="x")
    assert [v.code for v in refused.value.violations] == [OPEN_BOOKINGS_LIMIT]


def test_down_equipment_has_no_free_time(equipment):
    equipment.status = "down"
    equipment.save()
    assert free_intervals(equipment=equipment, start=local(1, 0), end=local(3, 0)) == []


OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
NIGHT = {d: [["20:00", "04:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

_serial = itertools.count()
slot = st.tuples(st.integers(1, 9), st.integers(0, 47), st.integers(1, 8))  # day, half-hour, len


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hours=st.sampled_from([OFFICE, NIGHT]), buffer=st.sampled_from([0, 30, 60]),
       granularity=st.sampled_from([15, 30, 60]), min_duration=st.sampled_from([30, 60, 120]),
       lead_time=st.sampled_from([0, 90, 2 * 24 * 60]), horizon=st.sampled_from([4, 30]),
       limit=st.sampled_from([None, 1, 2, 3]), held=st.integers(0, 3),
       status=st.sampled_from(["available", "available", "down"]),
       bookings=st.lists(slot, max_size=6), windows=st.lists(slot, max_size=2),
       probes=st.lists(slot, max_size=4))
def test_property_free_means_bookable(hub, category, sme, other_sme, hours, buffer, granularity,
                                      min_duration, lead_time, horizon, limit, held, status,
                                      bookings, windows, probes):
    """Availability and creation agree, for every input of the booking policy that is not the
    asker's standing (a verified SME with a qualified trial lead, which creation alone can
    know): opening hours, the slot grid, minimum duration, lead time, horizon, equipment
    status, maintenance, other bookings with their changeover buffer, and the SME's open
    bookings against the equipment's limit. Every free period's first slot can be booked,
    and every booking creation accepts lies in a free period."""
    Booking.objects.all().delete()
    MaintenanceWindow.objects.all().delete()
    hub.opening_hours = hours
    hub.save()
    now = timezone.now()
    eq = make_equipment(hub, category, f"prop-{next(_serial)}",
                        changeover_buffer=buffer, slot_granularity=granularity,
                        min_duration=min_duration, max_duration=24 * 60, lead_time=lead_time,
                        booking_horizon=horizon, max_open_bookings_per_sme=limit)
    for day, half, length in windows:
        start = local(day, 0) + timedelta(minutes=30 * half)
        MaintenanceWindowFactory(equipment=eq, start=start,
                                 end=start + timedelta(minutes=30 * length))
    for day, half, length in bookings:
        start = local(day, 0) + timedelta(minutes=30 * half)
        with contextlib.suppress(DomainError):  # a refused request leaves the slot free
            services.create_booking(equipment_id=eq.pk, organization=other_sme, start=start,
                                    end=start + timedelta(minutes=30 * length), purpose="x",
                                    now=now)
    for i in range(held):  # the asking SME's open bookings, after the period looked at
        BookingFactory(equipment=eq, organization=sme, start=local(40 + i, 10),
                       end=local(40 + i, 12))
    Equipment.objects.filter(pk=eq.pk).update(status=status)
    eq.refresh_from_db()
    lo, hi = local(1, 0), local(11, 0)
    free = free_intervals(equipment=eq, start=lo, end=hi, organization=sme, now=now)
    active = list(Booking.objects.filter(equipment=eq, status__in=Booking.ACTIVE))
    maint = list(MaintenanceWindow.objects.filter(equipment=eq))
    open_ = open_intervals(hours, hub.timezone, lo, hi)
    tz = ZoneInfo(hub.timezone)
    for s, e in free:
        assert s < e and e - s >= timedelta(minutes=min_duration)
        assert is_aligned(s, granularity, tz) and is_aligned(e, granularity, tz)
        assert now + timedelta(minutes=lead_time) <= s <= now + timedelta(days=horizon)
        assert any(os <= s and e <= oe for os, oe in open_), "free time outside opening hours"
        for b in active:
            assert e + timedelta(minutes=buffer) <= b.start or s >= b.blocked_until
        for m in maint:
            assert e <= m.start or s >= m.end
    if status != "available" or (limit is not None and held >= limit):
        assert free == []

    # The shortest booking on the grid (both ends aligned) that is long enough.
    shortest = timedelta(minutes=-(-min_duration // granularity) * granularity)

    def book(start, end):
        return services.create_booking(equipment_id=eq.pk, organization=sme, start=start,
                                       end=end, purpose="probe", now=now)

    # Booking the first slot of every free period succeeds (others stay free).
    for s, _ in free:
        booking = book(s, s + shortest)
        assert booking.status == Booking.Status.CONFIRMED
        booking.delete()
    # Whatever creation accepts, availability offered.
    for day, half, length in probes:
        start = local(day, 0) + timedelta(minutes=30 * half)
        end = start + timedelta(minutes=30 * length)
        try:
            booking = book(start, end)
        except DomainError:
            continue
        assert any(s <= start and end <= e for s, e in free), (start, end, free)
        booking.delete()
    if limit is not None and held >= limit:
        # The refusal availability foresaw: a period free to everyone else.
        for s, _ in free_intervals(equipment=eq, start=lo, end=hi, now=now)[:1]:
            with pytest.raises(ValidationFailed) as refused:
                book(s, s + shortest)
            assert [v.code for v in refused.value.violations] == [OPEN_BOOKINGS_LIMIT]
