"""The nudge that fans booking events out: with a broker, a burst of booking changes
publishes one delayed sweep message instead of one message per change (the API's
creation rate depends on it); the sweep then dispatches every event once. Against the
real Redis broker."""

from __future__ import annotations

import json
import time

import pytest
import redis
from django.conf import settings

from bookings import tasks
from bookings.models import BookingEvent
from core.tasks import CoalescedSweep
from tests.fixtures.world import booking_body, key_client, local

pytestmark = [pytest.mark.django_db, pytest.mark.redis, pytest.mark.real_broker]

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def queue(broker_at):
    """Tasks go to the real Redis broker (no worker consumes them here); yields a reader
    of the task names and headers waiting in the default queue."""
    broker_at(settings.REDIS_URL)
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete("default")
    tasks._new_events.forget()

    def waiting() -> list[dict]:
        return [json.loads(m)["headers"] for m in reversed(conn.lrange("default", 0, -1))]

    yield waiting
    conn.delete("default")
    tasks._new_events.forget()


def test_a_burst_of_bookings_publishes_one_delayed_sweep(
        queue, equipment, sme, django_capture_on_commit_callbacks):
    client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        for day in range(2, 7):
            r = client.post("/api/v1/bookings/",
                            booking_body(equipment, local(day, 9), local(day, 11)),
                            format="json")
            assert r.status_code == 201, r.content
    waiting = queue()
    assert [h["task"] for h in waiting] == ["bookings.dispatch_new_events"]
    assert waiting[0]["eta"]  # delayed: it runs after the changes it covers
    assert BookingEvent.objects.filter(notified_at__isnull=True).count() == 5

    # The worker's part: every event once, however often the sweep runs.
    assert tasks.dispatch_new_events() == 5
    assert tasks.dispatch_new_events() == 0
    assert not BookingEvent.objects.filter(notified_at__isnull=True).exists()


def test_covered_pokes_send_nothing_and_a_failed_send_is_retried(queue, broker_at):
    sweep = CoalescedSweep(tasks.dispatch_new_events, delay=0.5)
    assert sweep.poke() is True
    assert sweep.poke() is False  # the message just sent runs after this change
    assert len(queue()) == 1
    time.sleep(0.5 - CoalescedSweep.MARGIN + 0.05)
    assert sweep.poke() is True  # too close to that message's run: a new one
    assert len(queue()) == 2

    broker_at(UNREACHABLE)
    sweep.forget()
    assert sweep.poke() is False  # not sent (logged); nothing recorded as covered
    broker_at(settings.REDIS_URL)
    assert sweep.poke() is True
    assert [h["task"] for h in queue()] == ["bookings.dispatch_new_events"] * 3


def test_a_sweep_leaves_an_event_that_fails_to_the_periodic_sweep(
        queue, equipment, sme, django_capture_on_commit_callbacks, monkeypatch):
    client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        for day in (2, 3):
            assert client.post("/api/v1/bookings/",
                               booking_body(equipment, local(day, 9), local(day, 11)),
                               format="json").status_code == 201
    first, second = BookingEvent.objects.order_by("pk")
    real = tasks.notifications.dispatch_event

    def flaky(*, event_id):
        if event_id == first.pk:
            raise RuntimeError("mail server said no")
        return real(event_id=event_id)

    monkeypatch.setattr(tasks.notifications, "dispatch_event", flaky)
    assert tasks.dispatch_new_events() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.notified_at is None and second.notified_at is not None
    monkeypatch.setattr(tasks.notifications, "dispatch_event", real)
    assert tasks.dispatch_new_events() == 1
    assert not BookingEvent.objects.filter(notified_at__isnull=True).exists()
