"""Availability: free periods never overlap bookings, maintenance or closed hours, and
any returned free period can be booked. Property-based with hypothesis."""

import contextlib
import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import services
from bookings.models import Booking
from bookings.selectors import free_intervals
from core.errors import DomainError
from equipment.hours import open_intervals
from equipment.models import MaintenanceWindow
from tests.factories import MaintenanceWindowFactory
from tests.fixtures.world import local, make_equipment

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
    r = sme_client.get(URL.format(equipment.pk) + f"?start={q(local(1, 0))}&end={q(local(40, 0))}")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid" and "end" in r.json()["errors"]


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


def test_down_equipment_has_no_free_time(equipment):
    equipment.status = "down"
    equipment.save()
    assert free_intervals(equipment=equipment, start=local(1, 0), end=local(3, 0)) == []


OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
NIGHT = {d: [["20:00", "04:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

_serial = itertools.count()
slot = st.tuples(st.integers(1, 9), st.integers(0, 47), st.integers(1, 8))  # day, half-hour, len


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hours=st.sampled_from([OFFICE, NIGHT]), buffer=st.sampled_from([0, 30, 60]),
       bookings=st.lists(slot, max_size=6), windows=st.lists(slot, max_size=2))
def test_property_free_means_bookable(hub, category, sme, other_sme, hours, buffer, bookings,
                                      windows):
    Booking.objects.all().delete()
    MaintenanceWindow.objects.all().delete()
    hub.opening_hours = hours
    hub.save()
    eq = make_equipment(hub, category, f"prop-{next(_serial)}",
                        changeover_buffer=buffer, min_duration=30, max_duration=24 * 60,
                        booking_horizon=30)
    for day, half, length in windows:
        start = local(day, 0) + timedelta(minutes=30 * half)
        MaintenanceWindowFactory(equipment=eq, start=start,
                                 end=start + timedelta(minutes=30 * length))
    for day, half, length in bookings:
        start = local(day, 0) + timedelta(minutes=30 * half)
        with contextlib.suppress(DomainError):  # a refused request leaves the slot free
            services.create_booking(equipment_id=eq.pk, organization=other_sme, start=start,
                                    end=start + timedelta(minutes=30 * length), purpose="x")
    lo, hi = local(1, 0), local(11, 0)
    free = free_intervals(equipment=eq, start=lo, end=hi)
    active = list(Booking.objects.filter(equipment=eq, status__in=Booking.ACTIVE))
    maint = list(MaintenanceWindow.objects.filter(equipment=eq))
    open_ = open_intervals(hours, hub.timezone, lo, hi)
    for s, e in free:
        assert s < e
        assert any(os <= s and e <= oe for os, oe in open_), "free time outside opening hours"
        for b in active:
            assert e + timedelta(minutes=buffer) <= b.start or s >= b.blocked_until
        for m in maint:
            assert e <= m.start or s >= m.end
    # Booking the first 30 minutes of every free period succeeds (others stay free).
    for s, _ in free:
        booking = services.create_booking(equipment_id=eq.pk, organization=sme, start=s,
                                          end=s + timedelta(minutes=30), purpose="probe")
        assert booking.status == Booking.Status.CONFIRMED
        booking.delete()
