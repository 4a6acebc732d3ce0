"""What the collector reads: which equipment to hold now, and which bookings to check in.
System reads (no tenant acts here): the collector serves every hub."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from bookings.models import Booking
from equipment.models import Equipment
from equipment.sources import COLLECTED

from ..models import Observation

S = Booking.Status
STATE_METRIC = "state"


def _live(equipment: Equipment) -> bool:
    """Read during the booking (an OPC UA source in history mode is read afterwards)."""
    config = equipment.result_source_config or {}
    return not (equipment.result_source_kind == "opcua" and config.get("mode") == "history")


def equipment_to_collect(now: datetime) -> dict[int, Equipment]:
    """Equipment with a collected source and a booking that is checked in, or confirmed and
    starting within the lead, or ended (or completed) less than the tail ago."""
    lead = timedelta(minutes=settings.COLLECTOR_LEAD_MINUTES)
    tail = timedelta(minutes=settings.COLLECTOR_TAIL_MINUTES)
    running = (Q(status=S.CHECKED_IN)
               | Q(status=S.CONFIRMED, start__lte=now + lead, end__gt=now - tail)
               | Q(status=S.COMPLETED, end__gt=now - tail, completed_at__gt=now - tail))
    equipment_ids = (Booking.objects.filter(running)
                     .filter(equipment__result_source_kind__in=COLLECTED)
                     .values("equipment_id"))
    found = (Equipment.objects.filter(pk__in=equipment_ids).select_related("hub", "category")
             .order_by("pk"))
    return {e.pk: e for e in found if _live(e)}


def auto_check_in_due(equipment_ids: list[int], now: datetime) -> list[int]:
    """Confirmed bookings in their slot, on held equipment at a hub that checks in
    automatically, whose machine's latest state reading in the slot says active."""
    due = []
    bookings = (Booking.objects.filter(equipment_id__in=equipment_ids, status=S.CONFIRMED,
                                       start__lte=now, end__gt=now,
                                       equipment__hub__auto_check_in=True)
                .values_list("pk", "equipment_id", "start"))
    for booking_id, equipment_id, start in bookings:
        latest = (Observation.objects.filter(equipment_id=equipment_id, metric=STATE_METRIC,
                                             ts__gte=start, ts__lte=now)
                  .order_by("-ts").values_list("value", flat=True).first())
        if latest:
            due.append(booking_id)
    return due
