"""Usage evidence shown: booked vs actual hours in the booking API, the trial API and the
utilization report (JSON, CSV and the console's page); and, end to end, a trial collected
through the real collector from the shared Mosquitto, its state signal driving the
booking's actual use.

What is proven: ``usage`` is exact (hours to the hundredth, the actual period in the hub's
time zone) and null where the equipment has no state signal; the report adds the actual
hours of the bookings starting in the period, per equipment and per hub (null where none
has evidence); readings published during the booking become exactly the trial's
measurements, those before it do not, and the state changes give the actual hours the
booking, the APIs and the report show."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from bookings.reports import selectors as reports
from tests.factories import TrialFactory
from tests.fixtures.world import key_client, local, make_booking, make_equipment
from trials.models import Measurement, Observation, SourceState
from trials.plant.mqtt_publisher import publish_payloads, publish_readings, reading_payload

from .support import collector, finish, running_booking, wait_for

BROKER = "mqtt://127.0.0.1:1883"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTILIZATION_URL = "/api/v1/reports/utilization/"


def completed(equipment, sme, day: int, hours: int, **usage) -> Booking:
    start = local(day, 9)
    return make_booking(
        equipment,
        sme,
        start,
        start + timedelta(hours=hours),
        status=Booking.Status.COMPLETED,
        checked_in_at=start,
        completed_at=start + timedelta(hours=hours),
        **usage,
    )


@pytest.fixture
def with_usage(equipment, sme):
    """Three hours booked, 1 h 45 min 36 s of it active (09:10–11:30)."""
    start = local(-2, 9)
    return completed(
        equipment,
        sme,
        -2,
        3,
        actual_start=start + timedelta(minutes=10),
        actual_end=start + timedelta(hours=2, minutes=30),
        actual_seconds=6336,
    )


@pytest.mark.django_db
def test_booking_api_shows_booked_vs_actual(sme, with_usage):
    body = key_client(sme).get(f"/api/v1/bookings/{with_usage.pk}/").json()
    assert body["usage"] == {
        "booked_hours": "3.00",
        "actual_hours": "1.76",
        "actual_start": local(-2, 9, 10).isoformat(),
        "actual_end": local(-2, 11, 30).isoformat(),
    }
    assert body["usage"]["actual_start"].endswith("+08:00")


@pytest.mark.django_db
def test_without_a_state_signal_actual_is_null(equipment, sme, operator):
    booking = completed(equipment, sme, -3, 2)
    for client in (key_client(sme), key_client(operator)):
        assert client.get(f"/api/v1/bookings/{booking.pk}/").json()["usage"] == {
            "booked_hours": "2.00",
            "actual_hours": None,
            "actual_start": None,
            "actual_end": None,
        }


@pytest.mark.django_db
def test_trial_api_shows_usage_and_gaps(sme, operator, with_usage):
    TrialFactory(
        booking=with_usage,
        collected=True,
        gaps=[
            {
                "start": local(-2, 10).isoformat(),
                "end": local(-2, 10, 1).isoformat(),
                "seconds": 60.0,
                "reason": "disconnected",
                "detail": "",
            }
        ],
    )
    for client in (key_client(sme), key_client(operator)):
        body = client.get(f"/api/v1/trials/{with_usage.pk}/").json()
        assert body["usage"]["booked_hours"] == "3.00"
        assert body["usage"]["actual_hours"] == "1.76"
        assert [(g["reason"], g["seconds"]) for g in body["gaps"]] == [("disconnected", 60.0)]


@pytest.mark.django_db
def test_utilization_report_adds_actual_hours(
    hub, category, equipment, sme, operator, with_usage, admin_client
):
    completed(
        equipment,
        sme,
        -1,
        2,
        actual_start=local(-1, 9),
        actual_end=local(-1, 10),
        actual_seconds=3600,
    )
    completed(equipment, sme, -4, 1)  # no evidence: adds booked hours, not actual ones
    other = make_equipment(hub, category, "lathe-1")
    completed(other, sme, -1, 2)
    start, end = local(-7, 0), local(1, 0)
    query = {"start": start.isoformat(), "end": end.isoformat()}
    body = key_client(operator).get(UTILIZATION_URL, query).json()
    rows = {row["equipment_name"]: row for row in body["equipment"]}
    assert (rows["DMU 50"]["booked_hours"], rows["DMU 50"]["actual_hours"]) == ("6.00", "2.76")
    assert (rows["LATHE-1"]["booked_hours"], rows["LATHE-1"]["actual_hours"]) == ("2.00", None)
    (yizhuang,) = body["hubs"]
    assert (yizhuang["booked_hours"], yizhuang["actual_hours"]) == ("8.00", "2.76")
    # The CSV: the same figures, a column beside the booked hours.
    r = key_client(operator).get(UTILIZATION_URL, {**query, "format": "csv"})
    parsed = {row["equipment"]: row for row in csv.DictReader(io.StringIO(r.content.decode()))}
    assert reports.UTILIZATION_COLUMNS[4:6] == ["booked_hours", "actual_hours"]
    assert (parsed["DMU 50"]["actual_hours"], parsed["LATHE-1"]["actual_hours"]) == ("2.76", "")
    # The console's page.
    page = admin_client.get(
        reverse("admin:bookings_booking_reports"),
        {
            "start": f"{start:%Y-%m-%d}",
            "end": f"{end - timedelta(days=1):%Y-%m-%d}",
            "month": f"{start:%Y-%m}",
            "operator": operator.slug,
        },
    ).content.decode()
    assert '<th class="num">Actual h</th>' in page
    assert '<td class="num">2.76</td>' in page and '<td class="num">—</td>' in page


@pytest.mark.django_db
def test_actual_hours_count_where_the_booking_starts(operator, with_usage):
    """A booking over the end of the period: its booked hours are clipped, its actual
    hours counted in the period it starts in (never twice across periods)."""
    cut = local(-2, 10)
    first = reports.utilization(operator=operator, start=local(-3, 0), end=cut)
    second = reports.utilization(operator=operator, start=cut, end=local(0, 0))
    assert (first[0].booked_hours, first[0].actual_hours) == (
        1,
        reports.hours(timedelta(seconds=6336)),
    )
    assert (second[0].booked_hours, second[0].actual_hours) == (2, None)


# --- end to end: the real collector, the shared broker ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_trial_and_usage_from_the_state_signal(hub, category, sme, operator):
    topic = f"testbed-test/{uuid.uuid4().hex[:12]}"
    robot = make_equipment(
        hub,
        category,
        "robot-1",
        result_source_kind="mqtt",
        result_source_url=BROKER,
        result_source_config={"topic": f"{topic}/#", "state_metric": "state"},
    )
    robot.full_clean()
    robot.save()
    booking = running_booking(
        robot, sme, started=timedelta(minutes=10), ends_in=timedelta(minutes=30)
    )
    start = booking.start
    # Before the slot, retained: it reaches the collector as soon as it subscribes.
    publish_payloads(
        BROKER,
        f"{topic}/cell",
        [reading_payload(start - timedelta(seconds=30), "spindle_load", 5.0, "%")],
        retain=True,
    )
    inside = [(start + timedelta(minutes=m), "spindle_load", 60.0 + m, "%") for m in range(6)]
    states = [
        (start - timedelta(minutes=1), "state", 0, ""),
        (start + timedelta(minutes=2), "state", 1, ""),
        (start + timedelta(minutes=5), "state", 0, ""),
    ]
    try:
        with collector(interval=0.1) as c:
            wait_for(lambda: Observation.objects.filter(equipment=robot).count() == 1)
            publish_readings(BROKER, f"{topic}/cell", inside + states)
            wait_for(lambda: Observation.objects.filter(equipment=robot).count() == 10)
            assert c.flush()
            end = timezone.now()
            wait_for(
                lambda: (
                    (
                        stored := SourceState.objects.filter(pk=robot.pk)
                        .values_list("stored_until", flat=True)
                        .first()
                    )
                    is not None
                    and stored >= end
                )
            )
        # Completed once the collector has stopped writing: the tests' in-memory SQLite
        # would refuse the write beside the collector's ("table is locked").
        trial = finish(booking, operator, at=end)
    finally:
        publish_payloads(BROKER, f"{topic}/cell", [b""], retain=True)
    assert trial.status == "collected"
    assert list(
        Measurement.objects.filter(trial=trial, metric__name="spindle_load")
        .order_by("ts")
        .values_list("ts", "value", "metric__unit")
    ) == [(ts, v, u) for ts, _m, v, u in inside]
    assert list(
        Measurement.objects.filter(trial=trial, metric__name="state")
        .order_by("ts")
        .values_list("ts", "value")
    ) == [(start + timedelta(minutes=2), 1.0), (start + timedelta(minutes=5), 0.0)]
    booking.refresh_from_db()
    assert (booking.actual_start, booking.actual_end, booking.actual_seconds) == (
        start + timedelta(minutes=2),
        start + timedelta(minutes=5),
        180,
    )
    expected = {
        "booked_hours": "0.67",
        "actual_hours": "0.05",
        "actual_start": (start + timedelta(minutes=2)).astimezone(SHANGHAI).isoformat(),
        "actual_end": (start + timedelta(minutes=5)).astimezone(SHANGHAI).isoformat(),
    }
    assert key_client(sme).get(f"/api/v1/bookings/{booking.pk}/").json()["usage"] == expected
    trial_usage = key_client(sme).get(f"/api/v1/trials/{booking.pk}/").json()["usage"]
    assert (trial_usage["booked_hours"], trial_usage["actual_hours"]) == ("0.67", "0.05")
    report = reports.utilization(
        operator=operator, start=start - timedelta(hours=1), end=start + timedelta(hours=1)
    )
    assert [(r.equipment, r.actual_hours) for r in report] == [
        ("ROBOT-1", reports.hours(timedelta(minutes=3)))
    ]
    # The live view, after the booking: its last values, nothing from before the slot.
    live = key_client(sme).get(f"/api/v1/trials/{booking.pk}/live/").json()
    assert live["live"] is False
    assert [(m["metric"], m["value"]) for m in live["metrics"]] == [
        ("spindle_load", 65.0),
        ("state", 0.0),
    ]
