"""The catalog's "free between … and …" search: which of the matching equipment has
bookable time in a period, across every hub, a page at a time. The answer is
``bookings.search.free_search``'s (the API's ``/equipment/free/`` gives the same); this
module only adds the portal's inputs: the shortest free period wanted and the cursor of
the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from equipment.models import Equipment
from equipment.wording import duration
from organizations.models import Organization

from ..forms import CatalogSearchForm
from ..search import FreePage, decode_cursor, free_search
from ..selectors import MAX_AVAILABILITY_RANGE
from .week import Slot

PAGE_SIZE = 24  # as the catalogue's own pages
CURSOR_PARAM = "cursor"
RANK_PARAM = "n"  # the position of the page's first result, for its heading


class FreeSearchForm(CatalogSearchForm):
    """The catalogue's filters, and for the free-time search the shortest period wanted."""

    min_minutes = forms.IntegerField(
        label=gettext_lazy("Free for at least (minutes)"), required=False, min_value=1,
        max_value=int(MAX_AVAILABILITY_RANGE.total_seconds()) // 60,
        # Step 1: any whole number of minutes (a step of 30 from a minimum of 1 would let
        # the browser take only 1, 31, 61… and block the form on 60).
        widget=forms.NumberInput(attrs={"step": 1, "placeholder": "60"}),
        help_text=gettext_lazy("Each machine's own minimum booking applies too."))


def free_page(candidates: QuerySet[Equipment], form: FreeSearchForm, *, cursor: str | None,
              organization: Organization | None) -> FreePage:
    """The page of ``candidates`` with free time in the form's window (``form.window`` is
    set), from ``cursor`` on (the first page when it is missing or not a cursor)."""
    start, end = form.window
    return free_search(start=start, end=end, equipment=candidates,
                       min_minutes=form.cleaned_data.get("min_minutes"),
                       organization=organization, limit=PAGE_SIZE,
                       after=decode_cursor(cursor) if cursor else None)


@dataclass(frozen=True, slots=True)
class FreeCard:
    """A match as its card shows it: the periods in the hub's wall-clock time, each with the
    booking form's query that books it (as the week page's free blocks do), and the length a
    booking may have there (a free period can be longer than one booking may be)."""

    equipment: Equipment
    periods: list[Slot]
    more: int
    lengths: str


def booking_lengths(equipment: Equipment) -> str:
    """ "Bookings of 1–8 h" (whole hours at both ends), else "Bookings of 30 min–8 h"."""
    low, high = equipment.min_duration, equipment.max_duration
    if low == high:
        return _("Bookings of %(length)s") % {"length": duration(low)}
    if low % 60 == 0 and high % 60 == 0:
        return _("Bookings of %(min)d–%(max)d h") % {"min": low // 60, "max": high // 60}
    return _("Bookings of %(min)s–%(max)s") % {"min": duration(low), "max": duration(high)}


def book_slot(equipment: Equipment, start: datetime, end: datetime) -> Slot:
    """The free period [start, end) in the hub's time zone, proposing the booking from its
    start for the minimum duration, clipped to the period."""
    tz = ZoneInfo(equipment.hub.timezone)
    book_end = min(start + timedelta(minutes=equipment.min_duration), end)
    return Slot(start.astimezone(tz), end.astimezone(tz), start.astimezone(tz),
                book_end.astimezone(tz))


def free_cards(page: FreePage) -> list[FreeCard]:
    return [FreeCard(equipment=m.equipment, more=m.more,
                     periods=[book_slot(m.equipment, s, e) for s, e in m.periods],
                     lengths=booking_lengths(m.equipment))
            for m in page.matches]
