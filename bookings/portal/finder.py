"""The catalog's "free between … and …" search: which of the matching equipment has
bookable time in a period. Availability is ``selectors.free_intervals`` (one query per
piece of equipment), so the search looks at a bounded number of candidates and says when
it stopped short."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from equipment.models import Equipment
from organizations.models import Organization

from ..selectors import free_intervals

MAX_CANDIDATES = 40
PERIODS_SHOWN = 3


@dataclass(frozen=True)
class FreeMatch:
    equipment: Equipment
    periods: list[tuple[datetime, datetime]]  # the first few free periods (UTC)
    more: int  # how many further free periods there are


@dataclass(frozen=True)
class FreeSearch:
    matches: list[FreeMatch]
    checked: int
    truncated: bool  # more candidates matched than were checked


def free_between(candidates: QuerySet[Equipment], start: datetime, end: datetime,
                 *, organization: Organization | None = None,
                 now: datetime | None = None) -> FreeSearch:
    """``candidates`` (with hubs loaded) that have a bookable period within [start, end)
    (for ``organization``, the SME asking, if given: see ``free_intervals``)."""
    now = now or timezone.now()
    rows = list(candidates.filter(status=Equipment.Status.AVAILABLE)[:MAX_CANDIDATES + 1])
    truncated = len(rows) > MAX_CANDIDATES
    matches = []
    for equipment in rows[:MAX_CANDIDATES]:
        periods = free_intervals(equipment=equipment, start=start, end=end,
                                 organization=organization, now=now)
        if periods:
            matches.append(FreeMatch(equipment, periods[:PERIODS_SHOWN],
                                     max(0, len(periods) - PERIODS_SHOWN)))
    return FreeSearch(matches, min(len(rows), MAX_CANDIDATES), truncated)
