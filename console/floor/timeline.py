"""The timeline: every machine of the operator's hubs as a row, a day or a week along it,
bookings as blocks coloured by status and maintenance windows hatched. Each hub is drawn
in its own time zone: its rows run from local midnight of the chosen date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone

from bookings.selectors import operator_bookings_between
from equipment.models import Equipment
from equipment.selectors import (
    equipment_operated_by,
    hubs_operated_by,
    maintenance_windows_for_operator,
)

from ..access import operator_required

VIEWS = {"day": 1, "week": 7}
DAY_TICK_HOURS = 3


@dataclass
class Block:
    """Something on a row, placed in percent of the row's period."""

    left: str
    width: str
    start: datetime
    end: datetime
    item: object  # a Booking or a MaintenanceWindow
    clipped_start: bool
    clipped_end: bool


@dataclass
class Row:
    equipment: Equipment
    bookings: list[Block] = field(default_factory=list)
    maintenance: list[Block] = field(default_factory=list)


@dataclass
class HubLane:
    hub: object
    start: datetime
    end: datetime
    ticks: list[tuple[str, datetime]]
    rows: list[Row]
    now: str | None  # where "now" is on the rows, if within the period


def _percent(part: timedelta, whole: timedelta) -> str:
    # A plain string: a CSS value must not be localised ("12,5%").
    return f"{max(0.0, min(100.0, part / whole * 100)):.3f}"


def _block(item, start: datetime, end: datetime) -> Block:
    whole = end - start
    lo, hi = max(item.start, start), min(item.end, end)
    return Block(
        left=_percent(lo - start, whole),
        width=_percent(hi - lo, whole),
        start=item.start,
        end=item.end,
        item=item,
        clipped_start=item.start < start,
        clipped_end=item.end > end,
    )


def _ticks(first: date, days: int, tz: ZoneInfo) -> list[datetime]:
    """Instants labelled along the rows: every few hours for a day, midnights for a week
    (each a real local time, so a day with a DST change is drawn as long as it is)."""
    if days == 1:
        return [
            datetime.combine(first, time(hour), tzinfo=tz) for hour in range(0, 24, DAY_TICK_HOURS)
        ]
    return [datetime.combine(first + timedelta(days=n), time.min, tzinfo=tz) for n in range(days)]


EARLIEST, LATEST = date(1970, 1, 8), date(2999, 12, 24)


def _first_day(value: str | None, today: date) -> date:
    """The date asked for (``YYYY-MM-DD``); today when none, or none that can be shown."""
    try:
        asked = date.fromisoformat(value) if value else today
    except ValueError:
        return today
    return asked if EARLIEST <= asked <= LATEST else today


def build_lanes(
    organization, *, hubs: list, first: date, days: int, hub_slug: str | None, now: datetime
) -> list[HubLane]:
    """The lanes to draw for ``hubs`` (the operator's; only the one named ``hub_slug``, if
    it is among them): per hub its equipment (retired left out) with their bookings and
    maintenance windows."""
    shown = [h for h in hubs if h.slug == hub_slug] or hubs
    periods = {}
    for hub in shown:
        tz = ZoneInfo(hub.timezone)
        periods[hub.pk] = (
            datetime.combine(first, time.min, tzinfo=tz),
            datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz),
        )
    if not shown:
        return []
    lo = min(s for s, _e in periods.values())
    hi = max(e for _s, e in periods.values())
    hub_ids = list(periods)
    equipment = (
        equipment_operated_by(organization)
        .filter(hub_id__in=hub_ids)
        .exclude(status=Equipment.Status.RETIRED)
        .order_by("name", "pk")
    )
    rows = {e.pk: Row(e) for e in equipment}
    for booking in operator_bookings_between(organization, start=lo, end=hi, hub_ids=hub_ids):
        start, end = periods[booking.equipment.hub_id]
        row = rows.get(booking.equipment_id)
        if row and booking.start < end and booking.end > start:
            row.bookings.append(_block(booking, start, end))
    windows = maintenance_windows_for_operator(organization).filter(
        equipment_id__in=list(rows), start__lt=hi, end__gt=lo
    )
    for window in windows:
        start, end = periods[window.equipment.hub_id]
        if window.start < end and window.end > start:
            rows[window.equipment_id].maintenance.append(_block(window, start, end))
    lanes = []
    for hub in shown:
        start, end = periods[hub.pk]
        tz = ZoneInfo(hub.timezone)
        ticks = [(_percent(t - start, end - start), t) for t in _ticks(first, days, tz)]
        lanes.append(
            HubLane(
                hub=hub,
                start=start,
                end=end,
                ticks=ticks,
                rows=[r for r in rows.values() if r.equipment.hub_id == hub.pk],
                now=_percent(now - start, end - start) if start <= now < end else None,
            )
        )
    return lanes


@operator_required
def timeline(request):
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "day"
    days = VIEWS[view]
    now = timezone.now()
    hubs = list(hubs_operated_by(request.organization).order_by("name"))
    hub_slug = request.GET.get("hub") or None
    # "Today" is the first shown hub's (the deployment's, with no hub).
    tz_name = next(
        (h.timezone for h in hubs if h.slug == hub_slug),
        hubs[0].timezone if hubs else settings.TIME_ZONE,
    )
    today = now.astimezone(ZoneInfo(tz_name)).date()
    first = _first_day(request.GET.get("date"), today)
    lanes = build_lanes(
        request.organization, hubs=hubs, first=first, days=days, hub_slug=hub_slug, now=now
    )
    hub_slug = hub_slug if any(h.slug == hub_slug for h in hubs) else None
    return render(
        request,
        "console/floor/timeline.html",
        {
            "view": view,
            "days": days,
            "first": first,
            "last": first + timedelta(days=days - 1),
            "previous": first - timedelta(days=days),
            "next": first + timedelta(days=days),
            "today": today,
            "hubs": hubs,
            "hub_slug": hub_slug or "",
            "lanes": lanes,
        },
    )
