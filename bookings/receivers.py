"""Bookings react to the equipment layer: maintenance or downtime cancels what overlaps."""

from django.dispatch import receiver

from equipment.signals import equipment_unavailable

from .services import cancel_overlapping


@receiver(equipment_unavailable, dispatch_uid="bookings.cancel_on_unavailable")
def cancel_on_unavailable(sender, *, equipment, start, end, reason, by=None, **kwargs):
    cancel_overlapping(equipment=equipment, start=start, end=end, reason=reason, by_user=by)
