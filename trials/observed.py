"""A trial's results from what the equipment sent during the booking: the collector's
raw observations in the booking's window (MTConnect, OPC UA, MQTT), or — an OPC UA server
that historises, configured in history mode — a history read of the window.

The window is the slot, ended early if the operator completed the booking before its end.
The collector may still hold readings it has not stored: collection waits (up to
``COLLECTOR_SETTLE_SECONDS`` after the window) until the collector holding the equipment
has stored everything it received before the window's end; the task retries meanwhile.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from .collector.selectors import STATE_METRIC
from .ingest import ObservationWindow
from .models import Observation, SourceGap, SourceState
from .parsing import Row
from .sources import TransientSourceError
from .usage import Usage, usage

WAIT_HERE_SECONDS = 5.0  # wait in the task itself before asking for a retry


def window(booking) -> tuple[datetime, datetime]:
    end = booking.end
    if booking.completed_at and booking.start < booking.completed_at < end:
        end = booking.completed_at
    return booking.start, end


def _stored_through(equipment_id: int, end: datetime) -> bool:
    state = SourceState.objects.filter(pk=equipment_id).first()
    return state is not None and state.stored_until is not None and state.stored_until >= end


def _collector_holds(equipment_id: int, now: datetime) -> bool:
    stale = now - timedelta(seconds=settings.COLLECTOR_STALE_SECONDS)
    return SourceState.objects.filter(pk=equipment_id, held_until__gte=stale).exists()


def wait_for_collector(equipment_id: int, end: datetime) -> None:
    """Return once the readings up to ``end`` are stored, or nothing more will come;
    raise TransientSourceError to be retried while a collector is still storing them."""
    deadline = time.monotonic() + WAIT_HERE_SECONDS
    while not _stored_through(equipment_id, end):
        now = timezone.now()
        if now > end + timedelta(seconds=settings.COLLECTOR_SETTLE_SECONDS) \
                or not _collector_holds(equipment_id, now):
            return  # no collector is storing more: what is stored is what there is
        if time.monotonic() > deadline:
            raise TransientSourceError(_("Waiting for the collector to store the last "
                                         "readings of the booking."))
        time.sleep(0.25)


def _gap(start: datetime, end: datetime, reason: str, detail: str = "") -> dict:
    return {"start": start.isoformat(), "end": end.isoformat(),
            "seconds": round((end - start).total_seconds(), 3), "reason": reason,
            "detail": detail}


def gaps(equipment_id: int, start: datetime, end: datetime) -> list[dict]:
    """The source's recorded gaps within the window, clipped to it; and, when the
    collector did not store readings up to the window's end, that part too."""
    found = [_gap(max(g.start, start), min(g.end, end), g.reason, g.detail)
             for g in SourceGap.objects.filter(equipment_id=equipment_id, start__lt=end,
                                               end__gt=start).order_by("start")]
    state = SourceState.objects.filter(pk=equipment_id).first()
    stored = state.stored_until if state else None
    if stored is None or stored < end:
        since = max(stored or start, start)
        if since < end:
            found.append(_gap(since, end, SourceGap.Reason.COLLECTOR_DOWN))
    return found


def observed_usage(equipment_id: int, start: datetime, end: datetime,
                   gaps: list[dict]) -> Usage | None:
    states = Observation.objects.filter(equipment_id=equipment_id, metric=STATE_METRIC)
    before = (states.filter(ts__lt=start).order_by("-ts").values_list("value", flat=True)
              .first())
    points = states.filter(ts__gte=start, ts__lt=end).order_by("ts").values_list("ts", "value")
    holes = [(datetime.fromisoformat(g["start"]), datetime.fromisoformat(g["end"]))
             for g in gaps]
    return usage(points, start, end, before, holes)


def collect(trial_id: int, booking, equipment, *, load):
    """Build the trial from the observations (or the OPC UA history) of its window."""
    start, end = window(booking)
    config = equipment.result_source_config or {}
    if equipment.result_source_kind == "opcua" and config.get("mode") == "history":
        from .sources import opcua

        readings = sorted(opcua.fetch_history(equipment, start, end), key=lambda r: r.ts)
        readings = [r for r in readings if start <= r.ts < end]
        rows = [Row(r.ts.isoformat(), r.ts, r.metric, r.value, r.unit) for r in readings]
        points = [(r.ts, r.value) for r in readings if r.metric == STATE_METRIC]
        return load(trial_id, rows=rows, gaps=[], usage=usage(points, start, end))
    wait_for_collector(equipment.pk, end)
    found = gaps(equipment.pk, start, end)
    return load(trial_id, rows=ObservationWindow(equipment.pk, start, end), gaps=found,
                usage=observed_usage(equipment.pk, start, end, found))
