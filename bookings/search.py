"""Which equipment has free time between A and B: the search across every hub.

``free_search`` answers, for a page of the equipment matching a filter (in id order,
keyset-paginated), each one's first bookable periods within [start, end) of at least
``min_minutes``, and how many more it has. The answer is ``selectors.free_intervals``'s
for each piece of equipment (a test proves it on a varied world), without asking it one
equipment at a time:

- On PostgreSQL one query does the set work for every candidate, in id order, stopping
  once the page is full: the hub's opening hours as a multirange (built in SQL from the
  weekly JSON over the local days of the period, ``AT TIME ZONE`` the hub's zone, as
  ``equipment.hours.open_intervals`` builds them; PostgreSQL memoizes it per hub, so a
  page costs one or two hubs' worth), intersected with the equipment's bookable window
  (lead time, horizon), minus ``range_agg`` of what blocks it — active bookings widened
  by the changeover buffer, read through the exclusion constraint's GiST index with the
  predicate ``around_slot`` uses, and maintenance windows — unnested into periods long
  enough to hold the minimum even after grid rounding. Only the periods of the page's
  equipment come back; ``selectors.bookable_periods`` (the step ``free_intervals`` ends
  with) cuts them to the DST-aware slot grid. Rounding only shrinks, so when an
  equipment's periods all vanish the page is filled from the next candidates.
- Elsewhere (SQLite) the candidates are walked in the same order, ``free_intervals``
  asked for each.

There is no candidate limit: every matching equipment is looked at, a page at a time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from core import db
from core.errors import MAX_ID
from equipment.hours import WEEKDAYS
from equipment.models import Equipment, Hub, MaintenanceWindow
from organizations.models import Organization

from .models import Booking
from .selectors import bookable_periods, free_intervals, limited_booker

PAGE_SIZE = 20
PERIODS_SHOWN = 3


@dataclass(frozen=True)
class FreeMatch:
    equipment: Equipment
    periods: list[tuple[datetime, datetime]]  # the first few bookable periods (UTC)
    more: int  # how many further bookable periods it has in the window


@dataclass(frozen=True)
class FreePage:
    matches: list[FreeMatch]
    # The key to continue after (``after=`` of the next page), or None on the last page.
    next_after: int | None


def encode_cursor(after: int) -> str:
    """The opaque token of a page's ``next_after``, for links (API and portal alike)."""
    return base64.urlsafe_b64encode(f"a={after}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int | None:
    """The key a cursor continues after, or None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith("a=") or not text[2:].isdigit() or len(text) > 24:
        return None
    after = int(text[2:])
    return after if after <= MAX_ID else None


def free_search(*, start: datetime, end: datetime, equipment: QuerySet[Equipment],
                min_minutes: int | None = None, organization: Organization | None = None,
                now: datetime | None = None, after: int | None = None, limit: int = PAGE_SIZE,
                periods_per_equipment: int = PERIODS_SHOWN) -> FreePage:
    """The page of ``equipment`` (already filtered by the catalogue's filters; ids greater
    than ``after``, in id order) with a bookable period within [start, end) at least
    ``min_minutes`` (and the equipment's own minimum) long, for ``organization`` (the
    SME asking, if given: one at its open-bookings limit on an equipment sees none there),
    as ``free_intervals`` would answer for each at ``now``: up to ``limit`` matches, each
    with its first ``periods_per_equipment`` periods."""
    now = now or timezone.now()
    search = _Search(start=start, end=end, min_minutes=min_minutes or 0,
                     booker=limited_booker(organization), now=now)
    if connection.vendor == "postgresql":
        found = search.postgres(equipment, after, limit)
    else:
        found = search.one_by_one(equipment, after, limit, organization)
    page = found[:limit]
    matches = [FreeMatch(eq, periods[:periods_per_equipment],
                         max(0, len(periods) - periods_per_equipment))
               for eq, periods in page]
    return FreePage(matches, page[-1][0].pk if len(found) > limit else None)


@dataclass(frozen=True)
class _Search:
    start: datetime
    end: datetime
    min_minutes: int
    booker: Organization | None
    now: datetime

    def one_by_one(self, equipment: QuerySet[Equipment], after: int | None, limit: int,
                   organization: Organization | None) -> list:
        """Up to ``limit + 1`` matches, asking ``free_intervals`` candidate by candidate."""
        shortest = timedelta(minutes=self.min_minutes)
        found = []
        for eq in self._candidates(equipment, after, chunk=limit + 1):
            periods = [(s, e) for s, e in free_intervals(
                equipment=eq, start=self.start, end=self.end, organization=organization,
                now=self.now) if e - s >= shortest]
            if periods:
                found.append((eq, periods))
                if len(found) > limit:
                    break
        return found

    @staticmethod
    def _candidates(equipment: QuerySet[Equipment], after: int | None,
                    chunk: int) -> Iterable[Equipment]:
        qs = equipment.filter(status=Equipment.Status.AVAILABLE).order_by("pk")
        while True:
            rows = list((qs.filter(pk__gt=after) if after is not None else qs)[:chunk])
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1].pk

    def postgres(self, equipment: QuerySet[Equipment], after: int | None, limit: int) -> list:
        """Up to ``limit + 1`` matches: one query for the set work, then the grid."""
        candidates = equipment.filter(status=Equipment.Status.AVAILABLE)
        found = []
        while len(found) <= limit:
            want = limit + 1 - len(found)
            rows = self._free_rows(candidates, after, want)
            if not rows:
                break
            loaded = equipment.in_bulk([pk for pk, _lows, _highs in rows])
            for pk, lows, highs in rows:
                eq = loaded[pk]
                periods = bookable_periods(list(zip(lows, highs, strict=True)), equipment=eq,
                                           now=self.now, min_minutes=self.min_minutes)
                if periods:
                    found.append((eq, periods))
            if len(rows) < want:
                break  # no candidate left
            after = rows[-1][0]  # every period of some fell off the grid: fetch on
        return found

    def _free_rows(self, candidates: QuerySet[Equipment], after: int | None,
                   limit: int) -> list[tuple[int, list, list]]:
        """(equipment id, period starts, period ends) of the first ``limit`` candidates
        after ``after`` with a raw free period that can hold the minimum once rounded."""
        values = {"start": self.start, "end": self.end, "now": self.now, "after": after or 0,
                  # Local days of the period in any zone: at most one more than in UTC.
                  "days": (self.end - self.start).days + 2,
                  "min_minutes": self.min_minutes, "limit": limit,
                  "organization": self.booker.pk if self.booker else None}
        try:
            candidate_sql = candidates.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # e.g. a filter that can match nothing
            return []
        sql, params = _positional(_free_sql(self.booker is not None), values, candidate_sql)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


_NAMED = re.compile(r"%\((\w+)\)s")


def _positional(template: str, values: dict, candidates: tuple[str, tuple]) -> tuple[str, list]:
    """``template``'s named parameters as positional ones (the candidates' SQL, spliced in
    at each ``%(candidates)s``, brings its own)."""
    params: list = []

    def place(match: re.Match) -> str:
        if match.group(1) == "candidates":
            params.extend(candidates[1])
            return candidates[0]
        params.append(values[match.group(1)])
        return "%s"

    return _NAMED.sub(place, template), params


def _instant(local: str, at: str) -> str:
    """The SQL for the instant a hub's wall-clock time ``local`` (a timestamp without time
    zone; ``at`` is ``local AT TIME ZONE`` the hub's zone, ``w.tz``) reads, as
    ``equipment.hours`` has it (zoneinfo, fold 0): PostgreSQL reads a time the clocks skip
    as ``hours`` does (the offset before the change), but an ambiguous time as the later
    instant, where ``hours`` takes the earlier. DST changes are an hour, or half an hour
    (Lord Howe)."""
    earlier = [f"WHEN ({at} - interval '{step}') AT TIME ZONE w.tz = {local} "
               f"THEN {at} - interval '{step}'" for step in ("1 hour", "30 minutes")]
    return f"CASE {' '.join(earlier)} ELSE {at} END"


@cache
def _free_sql(limited: bool) -> str:
    """The set work on PostgreSQL, with named parameters: ``start``, ``end``, ``now``,
    ``after`` (the key to continue after), ``min_minutes``, ``limit`` (how many equipment)
    and, ``limited``, ``organization`` (the SME whose open bookings count); the
    candidates' SQL goes in at ``%(candidates)s``. Table and column names come from the
    models' metadata."""
    e = functools.partial(db.column, Equipment, alias="e")
    h = functools.partial(db.column, Hub, alias="h")
    b = functools.partial(db.column, Booking, alias="b")
    m = functools.partial(db.column, MaintenanceWindow, alias="m")
    minute = "interval '1 minute'"
    # Literal values, not parameters: the planner must see that the predicate implies the
    # exclusion constraint's partial index (as in ``selectors._around_sql``).
    active = ", ".join(f"'{status}'" for status in Booking.ACTIVE)
    weekdays = "ARRAY[" + ", ".join(f"'{day}'" for day in WEEKDAYS) + "]"
    own_limit = ""
    if limited:
        # Only whether the SME holds as many open bookings there as it may: at most the
        # limit's number of rows are read (``around_slot``'s own_open part).
        own_limit = (
            f"AND ({e('max_open_bookings_per_sme')} IS NULL OR (SELECT count(*) FROM ("  # noqa: S608 - model metadata and constants only
            f"SELECT 1 FROM {db.table(Booking)} b WHERE {b('equipment')} = {e('id')} "
            f"AND {b('status')} IN ({active}) AND {b('organization')} = %(organization)s "
            f"LIMIT {e('max_open_bookings_per_sme')}) o) < {e('max_open_bookings_per_sme')})")

    overnight_end = "(CASE WHEN k.e <= k.s THEN k.e + 1440 ELSE k.e END)"

    def clock(text: str) -> str:  # "HH:MM" → minutes
        return (f"(split_part({text}, ':', 1)::int * 60 + split_part({text}, ':', 2)::int)")

    return f"""
WITH candidates AS (
    SELECT {e('id')} AS id, {e('hub')} AS hub, {e('min_duration')} AS min_duration,
           {e('changeover_buffer')} * {minute} AS buffer,
           {e('booking_horizon')} * 1440 * {minute} AS horizon,
           GREATEST(%(start)s::timestamptz,
                    %(now)s::timestamptz + {e('lead_time')} * {minute}) AS lo,
           LEAST(%(end)s::timestamptz, %(now)s::timestamptz
                 + ({e('booking_horizon')} * 1440 + {e('max_duration')}) * {minute}) AS hi
    FROM {db.table(Equipment)} e
    WHERE {e('id')} IN (%(candidates)s) AND {e('id')} > %(after)s {own_limit}
)
SELECT c.id, f.lows, f.highs
FROM candidates c
CROSS JOIN LATERAL (
    -- The hub's open periods within [start, end), as equipment.hours.open_intervals has
    -- them: every local day from the one before the start (periods past midnight), the
    -- weekday's periods ("24:00" is 1440 minutes; an end not after the start is the next
    -- day's), clipped, merged by range_agg. (OFFSET 0: each instant is worked out once.)
    SELECT range_agg(tstzrange(GREATEST(o.lo, %(start)s::timestamptz),
                               LEAST(o.hi, %(end)s::timestamptz), '[)')) AS open
    FROM (
        SELECT {_instant("w.lo", "w.at_lo")} AS lo, {_instant("w.hi", "w.at_hi")} AS hi
        FROM (
            SELECT l.lo, l.hi, l.tz, l.lo AT TIME ZONE l.tz AS at_lo,
                   l.hi AT TIME ZONE l.tz AS at_hi
            FROM (
                SELECT d.day + k.s * {minute} AS lo, d.day + {overnight_end} * {minute} AS hi,
                       {h('timezone')} AS tz
                FROM {db.table(Hub)} h
                CROSS JOIN LATERAL (
                    SELECT ((%(start)s::timestamptz AT TIME ZONE {h('timezone')})::date + n)
                           ::timestamp
                    FROM generate_series(-1, %(days)s) AS n
                    WHERE (%(start)s::timestamptz AT TIME ZONE {h('timezone')})::date + n
                          <= (%(end)s::timestamptz AT TIME ZONE {h('timezone')})::date
                ) AS d(day)
                CROSS JOIN LATERAL jsonb_array_elements({h('opening_hours')}
                    -> ({weekdays})[extract(isodow FROM d.day)::int]) AS p(period)
                CROSS JOIN LATERAL (
                    SELECT {clock("p.period->>0")} AS s, {clock("p.period->>1")} AS e) k
                WHERE {h('id')} = c.hub
            ) l OFFSET 0
        ) w OFFSET 0
    ) o
    WHERE GREATEST(o.lo, %(start)s::timestamptz) < LEAST(o.hi, %(end)s::timestamptz)
) hours
CROSS JOIN LATERAL (
    SELECT array_agg(lower(p) ORDER BY p) AS lows, array_agg(upper(p) ORDER BY p) AS highs
    FROM unnest(hours.open * tstzmultirange(tstzrange(c.lo, GREATEST(c.lo, c.hi), '[)'))
                - COALESCE((SELECT range_agg(taken.r) FROM (
                      SELECT tstzrange({b('start')} - c.buffer, {b('blocked_until')}, '[)') AS r
                      FROM {db.table(Booking)} b
                      WHERE {b('equipment')} = c.id AND {b('status')} IN ({active})
                        AND tstzrange({b('start')}, {b('blocked_until')}, '[)')
                            && tstzrange(c.lo, GREATEST(c.lo, c.hi) + c.buffer, '[)')
                      UNION ALL
                      SELECT tstzrange({m('start')}, {m('end')}, '[)')
                      FROM {db.table(MaintenanceWindow)} m
                      WHERE {m('equipment')} = c.id AND {m('start')} < c.hi
                        AND {m('end')} > c.lo) taken),
                   '{{}}'::tstzmultirange)) AS p
    WHERE upper(p) - lower(p) >= GREATEST(c.min_duration, %(min_minutes)s) * {minute}
      AND lower(p) <= %(now)s::timestamptz + c.horizon
) f
WHERE c.lo < c.hi AND f.lows IS NOT NULL
ORDER BY c.id
LIMIT %(limit)s
"""  # noqa: S608 - model metadata and constants only
