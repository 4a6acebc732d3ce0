"""Trials follow their bookings (bookings announce, trials listen)."""

from django.dispatch import receiver

from bookings.models import Booking
from bookings.signals import booking_status_changed
from core.tasks import enqueue_on_commit

from . import services
from .tasks import collect_trial_results

S = Booking.Status


@receiver(booking_status_changed, dispatch_uid="trials.follow_booking")
def follow_booking(sender, *, booking, from_status, to_status, **kwargs):
    if to_status == S.CONFIRMED:
        services.open_trial(booking=booking)
    elif to_status in (S.CANCELLED, S.NO_SHOW):
        services.close_trial(booking=booking)
    elif to_status == S.COMPLETED:
        # The trial row (status pending) is the durable record; this is only the nudge.
        enqueue_on_commit(collect_trial_results, booking.pk)
