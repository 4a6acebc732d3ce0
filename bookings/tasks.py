"""Celery tasks for bookings: notification fan-out and the periodic sweeps (no-shows,
reminders, expiry of unapproved requests). Thin and idempotent; each sweep selects
what is due, so a missed run only delays work."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from core.tasks import CoalescedSweep, is_eager, send_now

from . import notifications, reasons
from .models import Booking
from .selectors import no_show_grace

logger = logging.getLogger(__name__)
S = Booking.Status


def reminder_lead() -> timedelta:
    return timedelta(hours=settings.BOOKING_REMINDER_HOURS)


@shared_task(acks_late=True, name="bookings.dispatch_booking_event")
def dispatch_booking_event(event_id: int) -> bool:
    return notifications.dispatch_event(event_id=event_id)


@shared_task(acks_late=True, name="bookings.dispatch_new_events")
def dispatch_new_events() -> int:
    """Fan out every event not yet dispatched (the coalesced nudge after bookings change,
    see ``nudge``). Each event is claimed under its row lock, so overlapping runs send
    nothing twice; an event that fails is left for the periodic sweep."""
    done = 0
    for event_id in notifications.pending_events(older_than=timedelta(0)).values_list(
            "pk", flat=True)[:1000]:
        try:
            done += notifications.dispatch_event(event_id=event_id)
        except Exception:  # noqa: BLE001 - one bad event must not hold up the others
            logger.exception("Booking event %s not dispatched; the sweep will retry.", event_id)
    return done


_new_events = CoalescedSweep(dispatch_new_events, delay=1.0)


def nudge(event_id: int) -> None:
    """After a booking change commits: have its event fanned out. With a broker, one
    delayed sweep covers every change of the next second (publishing a message per
    change cost the API more than the rest of the request); without one (tasks run
    in-process), this event is dispatched now."""
    if is_eager(dispatch_booking_event):
        send_now(dispatch_booking_event, event_id)
    else:
        _new_events.poke()


@shared_task(name="bookings.dispatch_pending_events")
def dispatch_pending_events() -> int:
    """Sweep: events whose notifications were never fanned out."""
    ids = list(notifications.pending_events().values_list("pk", flat=True)[:1000])
    for event_id in ids:
        send_now(dispatch_booking_event, event_id)
    return len(ids)


def _system_transitions(qs, service, reason: str) -> int:
    done = 0
    for booking_id in qs.values_list("pk", flat=True):
        try:
            service(booking_id=booking_id, reason=reason)
            done += 1
        except DomainError as exc:  # changed meanwhile (checked in, cancelled …): fine
            logger.info("Booking %s skipped by sweep: %s", booking_id, exc.message)
    return done


@shared_task(name="bookings.mark_no_shows")
def mark_no_shows() -> int:
    """Confirmed bookings nobody checked in to within the grace period become no-shows;
    the rest of their slot is free again (a no-show is not an active booking)."""
    from .services import mark_no_show

    grace = no_show_grace()
    due = Booking.objects.filter(status=S.CONFIRMED, start__lt=timezone.now() - grace)
    minutes = int(grace.total_seconds() // 60)
    return _system_transitions(due, mark_no_show, reasons.NO_CHECK_IN.of(minutes=minutes))


@shared_task(name="bookings.expire_requests")
def expire_requests() -> int:
    """Requests nobody approved before their start are cancelled."""
    from .services import expire_request

    due = Booking.objects.filter(status=S.REQUESTED, start__lt=timezone.now())
    return _system_transitions(due, expire_request, reasons.NOT_APPROVED_IN_TIME.of())


@shared_task(name="bookings.send_reminders")
def send_reminders() -> int:
    """Remind the SME of confirmed bookings starting within the reminder lead time;
    each booking's reminder is queued once (its dedupe key)."""
    now = timezone.now()
    due = (Booking.objects.filter(status=S.CONFIRMED, start__gt=now,
                                  start__lte=now + reminder_lead())
           .select_related("equipment__hub", "organization", "requested_by", "trial_lead"))
    count = 0
    for booking in due:
        notifications.notify(notifications.Announcement.reminder(booking, at=now),
                             key=f"reminder:{booking.pk}")
        count += 1
    return count
