"""Reads of the catalog. The catalog (hubs, equipment) is visible to every authenticated
organisation; what an organisation may change is narrowed by ``operated_by``."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from organizations.models import Organization

from .models import Equipment, Hub, MaintenanceWindow
from .signals import equipment_unavailable_preview


def hub_list() -> QuerySet[Hub]:
    return Hub.objects.select_related("operator")


def hubs_operated_by(organization: Organization | None) -> QuerySet[Hub]:
    return hub_list().filter(operator=organization)


def equipment_list() -> QuerySet[Equipment]:
    return (Equipment.objects.select_related("hub", "hub__operator", "category")
            .prefetch_related("capabilities"))


def equipment_operated_by(organization: Organization | None) -> QuerySet[Equipment]:
    """Equipment whose hub ``organization`` operates; anything else is 'not found' to it."""
    return equipment_list().filter(hub__operator=organization)


def search_equipment(qs: QuerySet[Equipment], text: str) -> QuerySet[Equipment]:
    for word in text.split():
        qs = qs.filter(Q(name__icontains=word) | Q(description__icontains=word)
                       | Q(category__name__icontains=word) | Q(hub__name__icontains=word)
                       | Q(capabilities__name__icontains=word))
    return qs.distinct()


def maintenance_windows_for_operator(
        organization: Organization | None) -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.select_related("equipment", "equipment__hub").filter(
        equipment__hub__operator=organization)


def bookings_cancelled_by_unavailability(*, equipment: Equipment, start: datetime,
                                         end: datetime, maintenance: bool = False) -> list:
    """The bookings that making ``equipment`` unavailable over [start, end) would cancel
    now: the very query the cancelling service runs (the bookings layer answers it), for
    the console's preview before it saves. With ``maintenance``, the refusal the service
    would give (a window over a trial in progress) is raised here already."""
    responses = equipment_unavailable_preview.send(sender=Equipment, equipment=equipment,
                                                   start=start, end=end,
                                                   refuse_in_progress=maintenance)
    return [booking for _receiver, answer in responses for booking in (answer or [])]


def bookings_cancelled_by_status(*, equipment: Equipment, new_status: str,
                                 now: datetime | None = None) -> list:
    """What changing ``equipment`` (as stored) to ``new_status`` would cancel: its bookings
    from now on when available equipment goes down or is retired; nothing otherwise."""
    from .services import unavailability_period  # the period is the service's to define

    if (equipment.status != Equipment.Status.AVAILABLE
            or new_status == Equipment.Status.AVAILABLE):
        return []
    start, end = unavailability_period(now or timezone.now())
    return bookings_cancelled_by_unavailability(equipment=equipment, start=start, end=end)
