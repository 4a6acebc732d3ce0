"""Bookings react to the equipment layer: maintenance or downtime cancels what overlaps."""

from django.dispatch import receiver

from equipment.signals import equipment_unavailable, equipment_unavailable_preview

from .selectors import cancellable_overlapping
from .services import cancel_overlapping, refuse_maintenance_over_trials


@receiver(equipment_unavailable, dispatch_uid="bookings.cancel_on_unavailable")
def cancel_on_unavailable(sender, *, equipment, start, end, reason, by=None,
                          refuse_in_progress=False, **kwargs):
    # The equipment service reports what was cancelled (API response, console message).
    # Maintenance refuses to overlap a trial in progress (a Conflict, raised through).
    return cancel_overlapping(equipment=equipment, start=start, end=end, reason=reason,
                              by_user=by, refuse_in_progress=refuse_in_progress)


@receiver(equipment_unavailable_preview, dispatch_uid="bookings.preview_unavailable")
def preview_unavailable(sender, *, equipment, start, end, refuse_in_progress=False,
                        **kwargs):
    if refuse_in_progress:
        refuse_maintenance_over_trials(equipment_id=equipment.pk, start=start, end=end)
    return list(cancellable_overlapping(equipment_id=equipment.pk, start=start, end=end))
