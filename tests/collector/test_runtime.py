"""The collector's own machinery, with a scripted driver: which equipment it holds and
when, one collector per equipment (PostgreSQL advisory locks), batches stored once
(duplicates dropped), state saved with its readings, heartbeats, and the trial built from
the booking window's observations — gaps and usage evidence included."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.models import Booking
from tests.fixtures.world import make_equipment
from trials.collector import runtime
from trials.collector.base import Gap, Reading
from trials.models import CollectorHeartbeat, Measurement, Observation, SourceGap, SourceState

from .support import collector, finish, running_booking, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class ScriptedDriver:
    """Hands over what the test scripts for its equipment, then idles until stopped."""

    script: dict[int, list] = {}
    started: list[int] = []

    def __init__(self, equipment, sink, stop):
        self.equipment, self.sink, self.stop = equipment, sink, stop

    def run(self):
        ScriptedDriver.started.append(self.equipment.pk)
        for step in ScriptedDriver.script.get(self.equipment.pk, []):
            if isinstance(step, Gap):
                self.sink.gap(step)
            else:
                readings, state = step
                self.sink.write(readings, state=state)
        while not self.stop.wait(0.1):  # a live source: everything so far handed over
            self.sink.caught_up(timezone.now())


@pytest.fixture
def scripted(monkeypatch):
    ScriptedDriver.script, ScriptedDriver.started = {}, []
    monkeypatch.setattr(runtime, "driver_for", lambda kind: ScriptedDriver)
    return ScriptedDriver


@pytest.fixture
def mqtt_equipment(hub, category):
    equipment = make_equipment(hub, category, "robot-1")
    equipment.result_source_kind = "mqtt"
    equipment.result_source_url = "mqtt://127.0.0.1:1883"
    equipment.result_source_config = {"topic": "plant/robot-1/#", "state_metric": "state"}
    equipment.full_clean()
    equipment.save()
    return equipment


def test_holds_running_equipment_only(scripted, mqtt_equipment, hub, category, sme):
    idle = make_equipment(hub, category, "idle-1")
    idle.result_source_kind, idle.result_source_url = "mqtt", "mqtt://127.0.0.1:1883"
    idle.result_source_config = {"topic": "plant/idle"}
    idle.save()
    now = timezone.now()
    from tests.factories import BookingFactory

    BookingFactory(
        equipment=idle,
        organization=sme,
        start=now + timedelta(hours=2),
        end=now + timedelta(hours=3),
    )  # confirmed, far ahead: not yet
    running_booking(mqtt_equipment, sme)
    with collector() as c:
        wait_for(lambda: scripted.started)
        assert set(c.held) == {mqtt_equipment.pk}
        wait_for(
            lambda: CollectorHeartbeat.objects.filter(
                name="test-collector", holding=[mqtt_equipment.pk]
            ).exists()
        )
    beat = CollectorHeartbeat.objects.get(name="test-collector")
    assert beat.stopped is not None


def test_readings_stored_once_with_their_state(scripted, mqtt_equipment, sme):
    running_booking(mqtt_equipment, sme)
    ts = timezone.now().replace(microsecond=0)
    first = [Reading(ts, "load", 1.0, "%"), Reading(ts, "temp", 20.5, "°C")]
    again = [Reading(ts, "load", 1.0, "%"), Reading(ts + timedelta(seconds=1), "load", 2.0, "%")]
    scripted.script[mqtt_equipment.pk] = [(first, {"cursor": 1}), (again, {"cursor": 2})]
    with collector() as c:
        wait_for(lambda: Observation.objects.count() == 3)
        assert c.flush()
    rows = sorted(Observation.objects.values_list("metric", "value", "unit"))
    assert rows == [("load", 1.0, "%"), ("load", 2.0, "%"), ("temp", 20.5, "°C")]
    assert SourceState.objects.get(pk=mqtt_equipment.pk).state == {"cursor": 2}


@pytest.mark.postgres
def test_two_collectors_never_hold_the_same_equipment(scripted, mqtt_equipment, hub, category, sme):
    others = []
    for i in range(3):
        equipment = make_equipment(hub, category, f"cell-{i}")
        equipment.result_source_kind, equipment.result_source_url = "mqtt", "mqtt://127.0.0.1:1"
        equipment.result_source_config = {"topic": f"plant/{i}"}
        equipment.save()
        running_booking(equipment, sme)
        others.append(equipment)
    running_booking(mqtt_equipment, sme)
    with collector("a", interval=0.05) as a, collector("b", interval=0.05) as b:
        wait_for(lambda: len(a.held) + len(b.held) == 4)
        time.sleep(0.5)  # many passes of both
        assert not set(a.held) & set(b.held)
        assert len(scripted.started) == 4
    # One stops: the other takes its equipment over.
    with collector("c", interval=0.05) as c:
        with collector("d", interval=0.05) as d:
            wait_for(lambda: len(c.held) + len(d.held) == 4)
            held_by_d = set(d.held)
        wait_for(lambda: len(c.held) == 4)
        assert held_by_d <= set(c.held)


def test_trial_built_from_the_window_with_gaps_and_usage(scripted, mqtt_equipment, sme, operator):
    booking = running_booking(mqtt_equipment, sme, started=timedelta(minutes=10))
    start = booking.start
    inside = [Reading(start + timedelta(minutes=m), "load", float(m), "%") for m in range(5)]
    before = [Reading(start - timedelta(seconds=1), "load", 99.0, "%")]
    states = [
        Reading(start - timedelta(minutes=1), "state", 0.0),
        Reading(start + timedelta(minutes=2), "state", 1.0),
        Reading(start + timedelta(minutes=5), "state", 0.0),
        Reading(start + timedelta(minutes=6), "state", 1.0),
    ]
    gap = Gap(start + timedelta(minutes=3), start + timedelta(minutes=4), "disconnected")
    scripted.script[mqtt_equipment.pk] = [(before + inside + states, None), gap]
    with collector() as c:
        wait_for(lambda: Observation.objects.count() == 10)
        assert c.flush()
        end = timezone.now()
        time.sleep(1.2)  # a batch after the end marks it stored
    trial = finish(booking, operator, at=end)  # (SQLite: no reads beside the writer)
    assert trial.status == "collected"
    stored = list(
        Measurement.objects.filter(trial=trial, metric__name="load")
        .order_by("ts")
        .values_list("ts", "value")
    )
    assert stored == [(r.ts, r.value) for r in inside]
    assert Measurement.objects.filter(trial=trial, metric__name="state").count() == 3
    assert [g["reason"] for g in trial.gaps] == ["disconnected"]
    assert trial.gaps[0]["seconds"] == 60
    booking = Booking.objects.get(pk=booking.pk)
    assert booking.actual_start == start + timedelta(minutes=2)
    assert booking.actual_end == booking.completed_at
    # Active 2–5 min and from 6 min on, less the minute without readings (3–4).
    active = 2 * 60 + (booking.completed_at - (start + timedelta(minutes=6))).total_seconds()
    assert booking.actual_seconds == round(active)


def test_no_collector_running_is_a_recorded_gap(mqtt_equipment, sme, operator):
    booking = running_booking(mqtt_equipment, sme, started=timedelta(minutes=10))
    trial = finish(booking, operator)
    assert trial.status == "collected"
    assert trial.measurement_count == 0
    assert [g["reason"] for g in trial.gaps] == [SourceGap.Reason.COLLECTOR_DOWN]
    assert trial.gaps[0]["start"] == booking.start.isoformat()


def test_auto_check_in_when_the_machine_becomes_active(scripted, mqtt_equipment, sme):
    hub = mqtt_equipment.hub
    hub.auto_check_in = True
    hub.save()
    booking = running_booking(mqtt_equipment, sme, status=Booking.Status.CONFIRMED)
    now = timezone.now()
    scripted.script[mqtt_equipment.pk] = [([Reading(now, "state", 1.0)], None)]
    with collector(interval=0.1):
        wait_for(lambda: Booking.objects.get(pk=booking.pk).status == Booking.Status.CHECKED_IN)
    assert (
        booking.events.filter(code="booking.checked_in")
        .get()
        .reason.startswith("Checked in automatically")
    )


def test_no_auto_check_in_unless_the_hub_wants_it(scripted, mqtt_equipment, sme):
    booking = running_booking(mqtt_equipment, sme, status=Booking.Status.CONFIRMED)
    scripted.script[mqtt_equipment.pk] = [([Reading(timezone.now(), "state", 1.0)], None)]
    with collector(interval=0.1) as c:
        wait_for(lambda: Observation.objects.count() == 1)
        c.step()
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED


def test_a_stopping_collector_stores_what_it_was_handed(scripted, mqtt_equipment, sme):
    running_booking(mqtt_equipment, sme)
    ts = timezone.now()
    scripted.script[mqtt_equipment.pk] = [
        ([Reading(ts + timedelta(milliseconds=i), "x", i) for i in range(5000)], None)
    ]
    with collector():
        wait_for(lambda: scripted.started)
    assert Observation.objects.count() == 5000


def test_a_driver_that_says_nothing_leaves_the_window_uncovered(
    scripted, mqtt_equipment, sme, operator, monkeypatch
):
    """No caught-up mark from the source: the collection does not take the wall clock for
    coverage; once the settle time is over it collects what there is, with a gap."""

    class Silent(ScriptedDriver):
        def run(self):
            self.stop.wait()

    monkeypatch.setattr(runtime, "driver_for", lambda kind: Silent)
    booking = running_booking(mqtt_equipment, sme, started=timedelta(minutes=10))
    with collector():
        wait_for(lambda: SourceState.objects.filter(pk=mqtt_equipment.pk).exists())
        time.sleep(1.2)
        assert SourceState.objects.get(pk=mqtt_equipment.pk).stored_until is None
    trial = finish(booking, operator, at=booking.start + timedelta(minutes=5))
    assert [g["reason"] for g in trial.gaps] == [SourceGap.Reason.COLLECTOR_DOWN]
    assert Booking.objects.get(pk=booking.pk).actual_seconds is None
