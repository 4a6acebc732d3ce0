"""Shared by the collector's tests: a booking running now on a piece of equipment, a
collector running in this process, and the trial collected at the end."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

from django.db import OperationalError
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import Booking
from tests.factories import BookingFactory, TrialFactory
from trials import services as trial_services
from trials.collector.runtime import Collector
from trials.models import Trial


def wait_for(condition, timeout: float = 10.0, what: str = "") -> None:
    """Until ``condition()`` holds, or fail after ``timeout`` seconds. The tests'
    in-memory SQLite (shared cache) refuses a read while the collector's writer holds
    the table ("table is locked", not retried by the busy timeout): that is "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OperationalError):
            if condition():
                return
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


def running_booking(
    equipment,
    organization,
    *,
    started: timedelta = timedelta(minutes=1),
    ends_in: timedelta = timedelta(minutes=30),
    status: str = Booking.Status.CHECKED_IN,
) -> Booking:
    """A booking whose slot began ``started`` ago and ends in ``ends_in`` (checked in,
    unless ``status`` says otherwise), with its trial open, as confirming opens it."""
    now = timezone.now().replace(microsecond=0)
    booking = BookingFactory(
        equipment=equipment,
        organization=organization,
        start=now - started,
        end=now + ends_in,
        status=status,
        checked_in_at=now - started if status == Booking.Status.CHECKED_IN else None,
    )
    TrialFactory(booking=booking)
    return booking


@contextlib.contextmanager
def collector(name: str = "test-collector", interval: float = 0.2):
    """A collector running in this process (threads) for the block."""
    running = Collector(name=name, interval=interval)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def finish(booking: Booking, operator, at: datetime | None = None) -> Trial:
    """Complete the booking (as its operator, at ``at``) and collect its trial now."""
    booking_services.complete_booking(
        booking_id=booking.pk, organization=operator, now=at or timezone.now()
    )
    trial_services.collect_trial_results(trial_id=booking.pk)
    return Trial.objects.get(pk=booking.pk)
