"""Seven days of one equipment as the portal's calendar shows them: rows of wall-clock
times in the hub's time zone, one column per day, each cell free, yours (a booking of the
viewer's own organisation), unavailable (booked by someone else, under maintenance, too
soon or too far ahead: the calendar never says whose), closed or past.

Pure: built from the hub's opening hours and the free periods that
``selectors.free_intervals`` computed (the one source of availability); no queries."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from equipment.hours import open_intervals
from equipment.models import Equipment

FREE, OWN, UNAVAILABLE, CLOSED, PAST = "free", "own", "unavailable", "closed", "past"
MIN_ROW_MINUTES = 30


DAYS = 7


def week_bounds(first_day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first day 00:00, seven days later 00:00) in the hub's zone, as UTC."""
    start = datetime.combine(first_day, time(), tzinfo=tz)
    end = datetime.combine(first_day + timedelta(days=DAYS), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def row_minutes(granularity: int) -> int:
    """Rows are the slot grid, coarsened to at least half an hour (a 15-minute grid would
    make a 24-hour hub 96 rows tall), always a multiple of the grid."""
    return granularity * -(-MIN_ROW_MINUTES // granularity)


@dataclass(frozen=True)
class Slot:
    """A free period to offer: where a booking form opens (start, end prefilled)."""

    start: datetime  # local (hub time zone)
    end: datetime
    book_start: datetime  # the prefilled booking: at least the minimum duration
    book_end: datetime


@dataclass
class Cell:
    start: datetime  # local
    end: datetime
    state: str
    slot: Slot | None = None


@dataclass
class Row:
    label: str  # "08:00"
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Week:
    first_day: date
    days: list[date]
    rows: list[Row]
    free: list[Slot]
    timezone: str
    step: int


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz) + timedelta(minutes=minutes)


def _row_range(opens: list[tuple[datetime, datetime]], tz: ZoneInfo,
               step: int) -> tuple[int, int] | None:
    """The wall-clock span (minutes from midnight) that covers every open period."""
    lo, hi = None, None
    for s, e in opens:
        ls, le = s.astimezone(tz), e.astimezone(tz)
        midnight_after = datetime.combine(ls.date() + timedelta(days=1), time(), tzinfo=tz)
        if le > midnight_after:
            return 0, 24 * 60  # runs past midnight: show whole days
        a = ls.hour * 60 + ls.minute
        b = 24 * 60 if le == midnight_after else le.hour * 60 + le.minute
        lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
    if lo is None:
        return None
    return lo - lo % step, min(24 * 60, hi + (-hi) % step)


def _slot(equipment: Equipment, start: datetime, free_end: datetime, free_start: datetime,
          tz: ZoneInfo) -> Slot:
    """The booking a click on ``start`` proposes: the minimum duration (at least one row),
    moved earlier if the free period ends too soon for it."""
    length = timedelta(minutes=max(equipment.min_duration, row_minutes(
        equipment.slot_granularity)))
    minimum = timedelta(minutes=equipment.min_duration)
    book_start = min(start, free_end - minimum)
    book_start = max(book_start, free_start)
    book_end = min(book_start + length, free_end)
    return Slot(free_start.astimezone(tz), free_end.astimezone(tz),
                book_start.astimezone(tz), book_end.astimezone(tz))


def build_week(*, equipment: Equipment, first_day: date,
               free: list[tuple[datetime, datetime]], now: datetime,
               own: list[tuple[datetime, datetime]] = ()) -> Week:
    """``free``: ``free_intervals`` over the seven days (sorted, disjoint, UTC); ``own``:
    the viewer's organisation's active bookings of the equipment in them (UTC)."""
    hub = equipment.hub
    tz = ZoneInfo(hub.timezone)
    start, end = week_bounds(first_day, tz)
    opens = open_intervals(hub.opening_hours, hub.timezone, start, end)
    step = row_minutes(equipment.slot_granularity)
    days = [first_day + timedelta(days=i) for i in range(DAYS)]
    free_starts = [s for s, _ in free]
    rows: list[Row] = []
    span = _row_range(opens, tz, step)
    if span is not None:
        for minute in range(span[0], span[1], step):
            row = Row(label=f"{minute // 60:02d}:{minute % 60:02d}")
            for day in days:
                cell_start = _local(day, minute, tz)
                cell_end = _local(day, minute + step, tz)
                row.cells.append(_cell(equipment, cell_start, cell_end, free, free_starts,
                                       opens, now, tz, own))
            rows.append(row)
    slots = [_slot(equipment, s, e, s, tz) for s, e in free]
    return Week(first_day=first_day, days=days, rows=rows, free=slots, timezone=hub.timezone,
                step=step)


def _cell(equipment, cell_start, cell_end, free, free_starts, opens, now, tz,
          own=()) -> Cell:
    s_utc, e_utc = cell_start.astimezone(UTC), cell_end.astimezone(UTC)
    i = bisect.bisect_right(free_starts, s_utc) - 1
    if i >= 0 and free[i][0] <= s_utc and e_utc <= free[i][1]:
        return Cell(cell_start, cell_end, FREE,
                    _slot(equipment, s_utc, free[i][1], free[i][0], tz))
    if not any(o_s < e_utc and s_utc < o_e for o_s, o_e in opens):
        return Cell(cell_start, cell_end, CLOSED)
    if any(b_s < e_utc and s_utc < b_e for b_s, b_e in own):
        return Cell(cell_start, cell_end, OWN)
    if s_utc < now:
        return Cell(cell_start, cell_end, PAST)
    return Cell(cell_start, cell_end, UNAVAILABLE)
