"""The live trial view: ``GET /api/v1/trials/{id}/live/`` and the portal's live panel.

What is proven, from Observation rows as the collector writes them: the latest value of
each metric and the series of the last minutes are exactly the readings within the
booking's slot (none from before it, none of other equipment), thinned to at most 300
points per metric, in two queries whatever the number of metrics; the gaps recorded so far
are listed, clipped to the slot; after the booking the last values stay, no longer live;
only the booking's SME and the hub's operator see any of it (404 for everyone else); the
portal panel polls with htmx while the booking is checked in and stops afterwards."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from organizations.models import Membership
from tests.factories import HubFactory, MembershipFactory, UserFactory
from tests.fixtures.world import SHANGHAI, key_client, make_equipment
from trials import selectors
from trials.models import Observation, SourceGap, Trial

from .support import running_booking

pytestmark = pytest.mark.django_db

HZ = timedelta(seconds=10)  # one reading per metric every 10 s


@pytest.fixture
def robot(hub, category):
    return make_equipment(
        hub,
        category,
        "robot-1",
        result_source_kind="mqtt",
        result_source_url="mqtt://127.0.0.1:1883",
        result_source_config={"topic": "plant/robot-1/#", "format": "json"},
    )


@pytest.fixture
def now():
    """Whole seconds, so every reading sits on the 10-second grid of the booking."""
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        yield moment


@pytest.fixture
def booking(robot, sme, now):
    """Checked in 10 minutes ago, ends in 20 minutes."""
    return running_booking(robot, sme, started=timedelta(minutes=10), ends_in=timedelta(minutes=20))


def load(booking: Booking) -> Callable[[datetime], float]:
    """The spindle load at a moment of the booking: its offset in seconds / 10."""
    return lambda ts: (ts - booking.start).total_seconds() / 10


def observe(equipment, start, end, metric: str, unit: str, value, step=HZ) -> list:
    rows, ts = [], start
    while ts < end:
        rows.append(
            Observation(equipment=equipment, ts=ts, metric=metric, value=value(ts), unit=unit)
        )
        ts += step
    Observation.objects.bulk_create(rows)
    return rows


@pytest.fixture
def readings(robot, booking, now, hub, category):
    """Spindle load every 10 s from a minute before the slot to now; the state twice; and
    another machine's readings."""
    observe(
        robot,
        booking.start - timedelta(minutes=1),
        now + timedelta(seconds=1),
        "spindle_load",
        "%",
        load(booking),
    )
    Observation.objects.bulk_create(
        [
            Observation(
                equipment=robot, ts=booking.start - timedelta(seconds=30), metric="state", value=0.0
            ),
            Observation(
                equipment=robot, ts=booking.start + timedelta(minutes=2), metric="state", value=1.0
            ),
        ]
    )
    other = make_equipment(hub, category, "robot-2")
    observe(other, booking.start, now, "spindle_load", "%", lambda ts: 999.0)


def live(client, booking, **query):
    return client.get(f"/api/v1/trials/{booking.pk}/live/", query)


def test_latest_values_and_the_last_minutes(sme, booking, readings, now):
    r = live(key_client(sme), booking)
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["live"]) == ("checked_in", True)
    assert body["since"] == _local(now - timedelta(minutes=5))  # in the hub's time zone
    assert body["until"] == _local(now)
    assert body["metrics"] == [
        {"metric": "spindle_load", "unit": "%", "value": 60.0, "ts": _local(now)},
        {
            "metric": "state",
            "unit": "",
            "value": 1.0,
            "ts": _local(booking.start + timedelta(minutes=2)),
        },
    ]
    # The last five minutes: every reading from now - 5 min (inclusive) up to now.
    expected = [[_local(now - timedelta(minutes=5) + i * HZ), 30.0 + i] for i in range(31)]
    assert body["series"] == {"spindle_load": expected}
    assert body["gaps"] == []


def _local(moment) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


def test_minutes_reach_back_to_the_start_of_the_slot_only(sme, booking, readings, now):
    body = live(key_client(sme), booking, minutes=60).json()
    assert body["since"] == _local(booking.start)  # not an hour ago: the slot began 10 min ago
    points = body["series"]["spindle_load"]
    assert len(points) == 61  # 10 minutes at 10 s, both ends included, nothing from before
    assert points[0] == [_local(booking.start), 0.0]
    assert [v for _ts, v in body["series"]["state"]] == [1.0]  # the one inside the slot


@pytest.mark.parametrize("minutes", ["0", "61", "x"])
def test_minutes_out_of_range_are_refused(sme, booking, minutes):
    r = live(key_client(sme), booking, minutes=minutes)
    assert r.status_code == 400
    assert list(r.json()["errors"]) == ["minutes"]


def test_series_are_thinned_to_300_points_per_metric(robot, sme, booking, now):
    observe(
        robot,
        now - timedelta(minutes=5),
        now,
        "vibration_rms",
        "mm/s",
        lambda ts: (ts - booking.start).total_seconds(),
        step=timedelta(milliseconds=250),
    )
    observe(
        robot,
        now - timedelta(minutes=5),
        now,
        "cycle_time",
        "s",
        lambda ts: 12.0,
        step=timedelta(seconds=5),
    )
    body = live(key_client(sme), booking).json()
    vibration = body["series"]["vibration_rms"]
    stride = math.ceil(1200 / selectors.LIVE_POINTS)  # 1,200 readings: every 4th is kept
    assert len(vibration) == 1200 // stride == 300
    first = now - timedelta(minutes=5)
    assert vibration[:2] == [[_local(first), 300.0], [_local(first + timedelta(seconds=1)), 301.0]]
    assert len(body["series"]["cycle_time"]) == 60  # under the cap: every reading


def test_two_queries_for_the_readings_whatever_the_metrics(robot, sme, booking, now):
    for n in range(8):
        observe(robot, booking.start, now, f"metric_{n}", "", lambda ts: 1.0)
    client = key_client(sme)
    with CaptureQueriesContext(connection) as queries:
        body = live(client, booking).json()
    assert len(body["metrics"]) == len(body["series"]) == 8
    observations = [q["sql"] for q in queries.captured_queries if "trials_observation" in q["sql"]]
    assert len(observations) == 2


def test_latest_values_on_either_database_agree_with_a_plain_reading(robot, booking, now):
    """DISTINCT ON (PostgreSQL) or a row number (SQLite): the last reading per metric,
    ties on the timestamp broken by the source's sequence."""
    Observation.objects.bulk_create(
        [
            Observation(equipment=robot, ts=now - timedelta(seconds=3), metric="a", value=1.0),
            Observation(
                equipment=robot, ts=now - timedelta(seconds=1), metric="a", value=2.0, seq=7
            ),
            Observation(
                equipment=robot, ts=now - timedelta(seconds=1), metric="a", value=3.0, seq=8
            ),
            Observation(equipment=robot, ts=now - timedelta(seconds=2), metric="b", value=4.0),
        ]
    )
    found = selectors.latest_values(Observation.objects.filter(equipment=robot))
    assert [(v.metric, v.value, v.ts) for v in found] == [
        ("a", 3.0, now - timedelta(seconds=1)),
        ("b", 4.0, now - timedelta(seconds=2)),
    ]


def test_gaps_so_far_clipped_to_the_slot(robot, sme, booking, now):
    SourceGap.objects.create(
        equipment=robot,
        start=booking.start - timedelta(minutes=5),
        end=booking.start + timedelta(seconds=20),
        reason="collector_down",
    )
    SourceGap.objects.create(
        equipment=robot,
        start=now - timedelta(minutes=3),
        end=now - timedelta(minutes=2, seconds=50),
        reason="disconnected",
        detail="broker closed the connection",
    )
    SourceGap.objects.create(
        equipment=robot,
        start=booking.start - timedelta(hours=2),
        end=booking.start - timedelta(hours=1),
        reason="disconnected",
    )
    assert live(key_client(sme), booking).json()["gaps"] == [
        {
            "start": _local(booking.start),
            "end": _local(booking.start + timedelta(seconds=20)),
            "seconds": 20.0,
            "reason": "collector_down",
            "detail": "",
        },
        {
            "start": _local(now - timedelta(minutes=3)),
            "end": _local(now - timedelta(minutes=2, seconds=50)),
            "seconds": 10.0,
            "reason": "disconnected",
            "detail": "broker closed the connection",
        },
    ]


def test_after_the_booking_the_last_values_stay(robot, sme, booking, readings, now):
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.COMPLETED, completed_at=now)
    with time_machine.travel(now + timedelta(hours=3), tick=False):
        body = live(key_client(sme), booking).json()
    assert (body["status"], body["live"]) == ("completed", False)
    assert body["until"] == _local(now)  # the slot ended when the operator completed it
    last = now - HZ  # the window ends (open) at the completion
    assert body["metrics"][0] == {
        "metric": "spindle_load",
        "unit": "%",
        "value": 59.0,
        "ts": _local(last),
    }
    assert body["series"]["spindle_load"][-1] == [_local(last), 59.0]


def test_before_the_booking_there_is_nothing(robot, sme, now):
    booking = running_booking(
        robot,
        sme,
        started=timedelta(minutes=-30),
        ends_in=timedelta(hours=1),
        status=Booking.Status.CONFIRMED,
    )
    observe(robot, now - timedelta(minutes=5), now, "spindle_load", "%", lambda ts: 5.0)
    body = live(key_client(sme), booking).json()
    assert (body["live"], body["metrics"], body["series"]) == (False, [], {})


def test_the_operator_sees_it_nobody_else(
    booking, readings, operator, other_sme, other_operator, category
):
    assert live(key_client(operator), booking).status_code == 200
    for org in (other_sme, other_operator):
        r = live(key_client(org), booking)
        assert r.status_code == 404 and r.json()["code"] == "trial_not_found"
    # The other operator's own trial is visible to it (the 404 above is about tenancy).
    theirs = make_equipment(HubFactory(operator=other_operator), category, "theirs")
    their_booking = running_booking(theirs, other_sme)
    assert live(key_client(other_operator), their_booking).status_code == 200


# --- the portal -----------------------------------------------------------------------


def _member(org) -> Client:
    user = MembershipFactory(organization=org, role=Membership.Role.ADMIN, user=UserFactory()).user
    client = Client()
    client.force_login(user)
    return client


def test_trial_page_has_a_polling_live_panel_while_checked_in(sme, booking, readings):
    html = _member(sme).get(reverse("trials:detail", args=[booking.pk])).content.decode()
    panel = reverse("trials:live", args=[booking.pk])
    assert f'hx-get="{panel}" hx-trigger="every 5s" hx-swap="outerHTML"' in html
    assert "Live readings" in html and "receiving" in html
    assert '<th scope="row" data-label="Metric">spindle_load</th>' in html
    # A chart per metric with readings in the last minutes (the state last changed earlier).
    assert html.count("<svg") == 1 and "spindle load (%) over time" in html


def test_panel_alone_and_it_stops_polling_after_the_booking(sme, booking, readings, now):
    client = _member(sme)
    part = client.get(reverse("trials:live", args=[booking.pk]), HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert part.status_code == 200 and html.lstrip().startswith('<section id="live"')
    assert "<html" not in html and "hx-trigger" in html
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.COMPLETED, completed_at=now)
    html = client.get(reverse("trials:live", args=[booking.pk])).content.decode()
    assert "hx-trigger" not in html
    assert "The booking is no longer checked in; the last values are shown." in html
    page = client.get(reverse("trials:detail", args=[booking.pk])).content.decode()
    assert 'id="live"' not in page  # the page shows the trial's results from now on


def test_panel_of_another_smes_trial_is_404(other_sme, booking):
    assert _member(other_sme).get(reverse("trials:live", args=[booking.pk])).status_code == 404


def test_trial_page_lists_the_trials_gaps_and_usage(sme, booking, now):
    Booking.objects.filter(pk=booking.pk).update(
        status=Booking.Status.COMPLETED,
        completed_at=now,
        actual_start=booking.start + timedelta(minutes=2),
        actual_end=now,
        actual_seconds=6 * 60,
    )
    Trial.objects.filter(pk=booking.pk).update(
        status=Trial.Status.COLLECTED,
        gaps=[
            {
                "start": (booking.start + timedelta(minutes=3)).isoformat(),
                "end": (booking.start + timedelta(minutes=4)).isoformat(),
                "seconds": 60.0,
                "reason": "disconnected",
                "detail": "",
            }
        ],
    )
    html = _member(sme).get(reverse("trials:detail", args=[booking.pk])).content.decode()
    assert "Gaps in the readings" in html
    assert '<th scope="row" data-label="Why">The connection to the source was lost</th>' in html
    assert '<td data-label="Duration" class="num">1 min</td>' in html
    assert "<dt>Booked</dt><dd>0.50 h</dd>" in html
    assert "<dt>Actual use</dt><dd>0.10 h" in html
