"""Weekly opening hours of a hub, in the hub's own time zone.

Stored as ``{"mon": [["08:00", "18:00"]], "tue": [["22:00", "06:00"]], …}``: a list of
periods per weekday; a period whose end is not after its start runs past midnight into
the next day, and "24:00" means the end of the day. A day that is missing or empty is
closed. Periods are turned into concrete UTC intervals with zoneinfo, so zones with and
without daylight saving time are both handled.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in WEEKDAYS}
OFFICE_HOURS = {day: [["08:00", "20:00"]] for day in WEEKDAYS[:5]}


def parse_clock(value: str) -> tuple[int, int]:
    """"HH:MM" → (hours, minutes); "24:00" is allowed as an end of day."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValueError(value)
    hours, minutes = int(value[:2]), int(value[3:])
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(value)
    return hours, minutes


def validate_opening_hours(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            gettext_lazy("Opening hours must be an object keyed by weekday (mon … sun)."),
            code="hours_shape")
    unknown = sorted(set(value) - set(WEEKDAYS))
    if unknown:
        raise ValidationError(
            gettext_lazy("Unknown weekday(s) %(days)s; use mon, tue, wed, thu, fri, sat, sun."),
            code="hours_weekday", params={"days": ", ".join(unknown)})
    for day, periods in value.items():
        if not isinstance(periods, list):
            raise ValidationError(
                gettext_lazy("Opening hours for %(day)s must be a list of [start, end]."),
                code="hours_shape", params={"day": day})
        minutes = []
        for period in periods:
            if not (isinstance(period, list | tuple) and len(period) == 2):
                raise ValidationError(
                    gettext_lazy('Each period on %(day)s must be ["HH:MM", "HH:MM"].'),
                    code="hours_shape", params={"day": day})
            try:
                (sh, sm), (eh, em) = parse_clock(period[0]), parse_clock(period[1])
            except (ValueError, TypeError):
                raise ValidationError(
                    gettext_lazy("%(day)s: %(period)s is not a pair of HH:MM times."),
                    code="hours_clock", params={"day": day, "period": period}) from None
            start, end = sh * 60 + sm, eh * 60 + em
            if start == 24 * 60:
                raise ValidationError(gettext_lazy("%(day)s: a period cannot start at 24:00."),
                                      code="hours_clock", params={"day": day})
            if end == start:
                raise ValidationError(gettext_lazy("%(day)s: period %(period)s is empty."),
                                      code="hours_empty", params={"day": day, "period": period})
            if end < start:  # runs past midnight
                end += 24 * 60
            minutes.append((start, end))
        minutes.sort()
        for (_, prev_end), (next_start, _) in zip(minutes, minutes[1:], strict=False):
            if next_start < prev_end:
                raise ValidationError(gettext_lazy("%(day)s: opening periods overlap."),
                                      code="hours_overlap", params={"day": day})


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(gettext_lazy("%(tz)s is not an IANA time zone (e.g. Asia/Shanghai)."),
                              code="timezone", params={"tz": value}) from None


def _local(day: date, clock_minutes: int, tz: ZoneInfo) -> datetime:
    """A wall-clock time on ``day`` (minutes may exceed a day) as an aware UTC datetime."""
    naive = datetime.combine(day, time()) + timedelta(minutes=clock_minutes)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def open_intervals(hours: dict, tz_name: str, start: datetime,
                   end: datetime) -> list[tuple[datetime, datetime]]:
    """The hub's open periods clipped to [start, end), merged, as UTC pairs."""
    tz = ZoneInfo(tz_name)
    first_day = start.astimezone(tz).date() - timedelta(days=1)  # periods crossing midnight
    last_day = end.astimezone(tz).date()
    out: list[tuple[datetime, datetime]] = []
    day = first_day
    while day <= last_day:
        for period in hours.get(WEEKDAYS[day.weekday()], []):
            (sh, sm), (eh, em) = parse_clock(period[0]), parse_clock(period[1])
            s_min, e_min = sh * 60 + sm, eh * 60 + em
            if e_min <= s_min:
                e_min += 24 * 60
            s, e = max(_local(day, s_min, tz), start), min(_local(day, e_min, tz), end)
            if s < e:
                out.append((s, e))
        day += timedelta(days=1)
    return merge(out)


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(free: list[tuple[datetime, datetime]],
             taken: Iterator[tuple[datetime, datetime]] | list) -> list[tuple[datetime, datetime]]:
    """``free`` (sorted, disjoint) minus every interval in ``taken``, in one sweep."""
    blocks = merge(list(taken))
    out: list[tuple[datetime, datetime]] = []
    j = 0
    for s, e in free:
        cursor = s
        while j < len(blocks) and blocks[j][1] <= cursor:
            j += 1
        k = j
        while k < len(blocks) and blocks[k][0] < e:
            block_start, block_end = blocks[k]
            if block_start > cursor:
                out.append((cursor, block_start))
            cursor = max(cursor, block_end)
            k += 1
        if cursor < e:
            out.append((cursor, e))
    return out
