"""Usage evidence: when the machine was actually active during a booking, from its
source's state signal (readings of the metric ``state``: 1 active, 0 not).

A state holds from its reading until the next one; the state before the slot's first
reading is the last one before the slot (if any). Active periods are clipped to the slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple


class Usage(NamedTuple):
    actual_start: datetime | None
    actual_end: datetime | None
    actual_seconds: int


def active_periods(points: Iterable[tuple[datetime, float]], start: datetime, end: datetime,
                   before: float | None = None) -> list[tuple[datetime, datetime]]:
    """Periods within [start, end) in which the state was active. ``points`` are
    (timestamp, value) in time order; ``before`` is the state at ``start``."""
    periods: list[tuple[datetime, datetime]] = []
    since = start if before else None
    for ts, value in points:
        if ts < start or ts >= end:
            continue
        if value and since is None:
            since = ts
        elif not value and since is not None:
            if ts > since:
                periods.append((since, ts))
            since = None
    if since is not None and end > since:
        periods.append((since, end))
    return periods


def _minus(periods: list[tuple[datetime, datetime]],
           holes: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """``periods`` without the time in ``holes``."""
    for hole_start, hole_end in holes:
        cut = []
        for a, b in periods:
            if hole_end <= a or hole_start >= b:
                cut.append((a, b))
                continue
            if a < hole_start:
                cut.append((a, hole_start))
            if hole_end < b:
                cut.append((hole_end, b))
        periods = cut
    return periods


def usage(points: Iterable[tuple[datetime, float]], start: datetime, end: datetime,
          before: float | None = None,
          gaps: Iterable[tuple[datetime, datetime]] = ()) -> Usage | None:
    """The booking's usage, or None when the state signal said nothing about the slot.
    Time in ``gaps`` (no readings: nobody knows what the machine did) is not counted as
    use; a slot covered by gaps with no reading in it is unknown (None)."""
    points = list(points)
    holes = [(max(a, start), min(b, end)) for a, b in gaps if a < end and b > start]
    if not any(start <= ts < end for ts, _v in points) and (
            before is None or not _minus([(start, end)], holes)):
        return None
    periods = _minus(active_periods(points, start, end, before), holes)
    if not periods:
        return Usage(None, None, 0)
    seconds = sum((b - a).total_seconds() for a, b in periods)
    return Usage(periods[0][0], periods[-1][1], int(round(seconds)))
