"""Days of one equipment as the portal's calendar shows them: rows of wall-clock times in
the hub's time zone, one column per day, seven days a week and up to
``MAX_WEEKS`` weeks at once. Each column is a handful of blocks, runs of rows in the same
state: free, yours (a booking of the viewer's own organisation), unavailable (booked by
someone else, under maintenance, too soon or too far ahead: the calendar never says
whose), closed or past. A block is placed by the grid rows it spans (CSS grid), so the
page costs what its blocks cost, not rows × days.

The states of the rows are painted by whole runs (a free period, a booking, an open
period at a time), in this order of precedence: free over closed over yours over past
over unavailable. A row is free only when a free period covers all of it; it is yours,
or closed, when a booking of yours overlaps it, or no open period does.

Wall clock: on a day whose clocks go forward the hour they skip is drawn as part of the
block around it; on a day they go back, the repeated hour is drawn once. An end at the next
midnight is written "24:00". A block of two rows or more shows its times; a free block
carries its wall-clock start and end, so that ``static/portal/week.js`` can propose the
booking from the row clicked (the link, without script, proposes the block's start); a
block of yours links to the booking's page.

Free periods are read a little beyond the days shown (``free_range``): one cut by the
edge would otherwise be shorter than the minimum inside them, and vanish.

The blocks' and free periods' markup is written here, once per page, with every value
escaped (``Day.html``, ``Week.free_html``): a busy week is hundreds of blocks, and the
template engine's ~30 µs per variable would make the page cost ten times the availability
behind it. The page's structure (navigation, the grid, headings, legend) stays in
``templates/bookings/_week.html``.

Pure: built from the hub's opening hours and the free periods that
``selectors.free_intervals`` computed (the one source of availability); no queries."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape  # Django's escape, without its lazy-string wrapper
from zoneinfo import ZoneInfo

from django.utils import dateformat, formats
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from equipment.hours import open_intervals
from equipment.models import Equipment
from equipment.wording import utc_offset, zone_label

from ..selectors import MAX_AVAILABILITY_RANGE

FREE, OWN, UNAVAILABLE, CLOSED, PAST = "free", "own", "unavailable", "closed", "past"
MIN_ROW_MINUTES = 30
DAY_MINUTES = 24 * 60

DAYS = 7
MAX_WEEKS = MAX_AVAILABILITY_RANGE.days // DAYS  # 13 weeks: 91 of the 92 days
WEEK_CHOICES = (1, 4, MAX_WEEKS)  # the page offers these; ``?weeks=`` takes any up to 13
# The days' short names, Monday first: "Tue" / "周二" (Django's own abbreviation in Chinese,
# "星期二", is too wide for a day's column on a phone).
WEEKDAYS_SHORT = (pgettext_lazy("weekday short", "Mon"), pgettext_lazy("weekday short", "Tue"),
                  pgettext_lazy("weekday short", "Wed"), pgettext_lazy("weekday short", "Thu"),
                  pgettext_lazy("weekday short", "Fri"), pgettext_lazy("weekday short", "Sat"),
                  pgettext_lazy("weekday short", "Sun"))


def free_range(equipment: Equipment, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """What to ask ``free_intervals`` for to draw [start, end): a little more on both sides,
    so that a free period cut by the edge of the days shown keeps its length (it would be
    shorter than the minimum inside them, and vanish), and the list of free periods shows
    it whole. ``build_week`` clips the drawing to the days."""
    before = timedelta(minutes=equipment.max_duration or equipment.min_duration)
    return start - before, end + timedelta(minutes=equipment.min_duration)


def week_bounds(first_day: date, tz: ZoneInfo, weeks: int = 1) -> tuple[datetime, datetime]:
    """[first day 00:00, ``weeks`` × seven days later 00:00) in the hub's zone, as UTC."""
    start = datetime.combine(first_day, time(), tzinfo=tz)
    end = datetime.combine(first_day + timedelta(days=DAYS * weeks), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def row_minutes(granularity: int) -> int:
    """Rows are the slot grid, coarsened to at least half an hour (a 15-minute grid would
    make a 24-hour hub 96 rows tall), always a multiple of the grid."""
    return granularity * -(-MIN_ROW_MINUTES // granularity)


@dataclass(slots=True)
class Slot:
    """A free period to offer: where a booking form opens (start, end prefilled)."""

    start: datetime  # local (hub time zone)
    end: datetime
    book_start: datetime  # the prefilled booking: at least the minimum duration
    book_end: datetime
    text: str = ""  # the period in words, "Tue Dec 1 09:00–12:00" (the list of free periods)
    link: str | None = None  # its link's attributes, once made (_Markup)
    shown: bool = True  # in the days shown (free periods are read a little beyond them)

    @property
    def query(self) -> str:
        """The booking form's query string (its wall-clock ``start`` and ``end``)."""
        return f"start={_minutes(self.book_start)}&end={_minutes(self.book_end)}"


@dataclass(slots=True)
class Block:
    """Rows ``[first, last)`` of one day in one state, as the grid places them."""

    start: datetime  # local, the first row's start
    end: datetime  # local, the last row's end
    state: str
    first: int  # row index in the day, from 0
    last: int
    label: str  # what a screen reader says of it
    slot: Slot | None = None  # free blocks: the booking a click proposes
    times: str = ""  # "08:00–20:00" (an end at the next midnight is "24:00")
    booking: int | None = None  # yours: the booking's id

    @property
    def data_end(self) -> str:
        return _minutes(self.end)

    @property
    def rows(self) -> str:
        """``grid-row`` of the block: line 1 is the day's heading, rows start at line 2."""
        return f"{self.first + 2} / {self.last + 2}"

    @property
    def data_start(self) -> str:
        return _minutes(self.start)


@dataclass
class Day:
    date: date
    name: str  # "Tuesday December 1", the column's full heading
    short: str  # "Tue"
    blocks: list[Block]
    html: SafeString = mark_safe("")  # the blocks' markup
    today: bool = False


@dataclass
class Week:
    first_day: date
    days: list[date]  # every day shown, over all the weeks
    columns: list[list[Day]]  # one list of seven days per week
    labels: list[str]  # the rows' wall-clock times, "08:00"
    free: list[Slot]
    timezone: str
    step: int
    zone: str = ""  # the zone and its offsets over the days: "…, UTC+01:00; UTC+02:00 from …"
    book_length: int = 0  # minutes: the booking a click proposes (week.js)
    free_html: SafeString = mark_safe("")  # the list of free periods' items
    times_html: SafeString = mark_safe("")  # the row times' column

    @property
    def last_day(self) -> date:
        return self.days[-1]

    def block_at(self, moment: datetime) -> Block | None:
        """The block showing ``moment`` (an aware time), if any row does."""
        local = moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        for week in self.columns:
            for day in week:
                for block in day.blocks:
                    if block.start.replace(tzinfo=None) <= local < \
                            block.end.replace(tzinfo=None):
                        return block
        return None


def _minutes(moment: datetime) -> str:
    """``2026-12-01T09:00``: the wall-clock form of the booking form's fields."""
    return moment.replace(tzinfo=None).isoformat(timespec="minutes")


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _end_clock(start: datetime, end: datetime) -> tuple[date, str]:
    """The day and wall-clock time an end is written with: "24:00" of the day before for
    an end at midnight after the start (a full day reads 00:00–24:00, not 00:00–00:00)."""
    if end.hour == end.minute == 0 and end > start:
        return end.date() - timedelta(days=1), "24:00"
    return end.date(), _clock(end)


def zone_text(tz: ZoneInfo, days: list[date]) -> str:
    """The hub's zone with its offset on the first day, and every other offset the days
    take after a change of the clocks ("…, UTC+01:00; UTC+02:00 from March 28")."""
    text = zone_label(tz, at=datetime.combine(days[0], time(12), tzinfo=tz), bracketed=True)
    offset = datetime.combine(days[0], time(12), tzinfo=tz).utcoffset()
    for day in days[1:]:
        noon = datetime.combine(day, time(12), tzinfo=tz)
        if noon.utcoffset() != offset:
            offset = noon.utcoffset()
            text = _("%(zone)s; %(offset)s from %(date)s") % {
                "zone": text, "offset": utc_offset(tz, noon),
                "date": formats.date_format(day, "MONTH_DAY_FORMAT")}
    return text


def _row_range(opens: list[tuple[datetime, datetime]], tz: ZoneInfo,
               step: int) -> tuple[int, int] | None:
    """The wall-clock span (minutes from midnight) that covers every open period."""
    lo, hi = None, None
    for s, e in opens:
        ls, le = s.astimezone(tz), e.astimezone(tz)
        midnight_after = datetime.combine(ls.date() + timedelta(days=1), time(), tzinfo=tz)
        if le > midnight_after:
            return 0, DAY_MINUTES  # runs past midnight: show whole days
        a = ls.hour * 60 + ls.minute
        b = DAY_MINUTES if le == midnight_after else le.hour * 60 + le.minute
        lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
    if lo is None:
        return None
    return lo - lo % step, min(DAY_MINUTES, hi + (-hi) % step)


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


class _Rows:
    """Instants as row positions: wall-clock minutes from the first day's midnight, split
    into (day, fractional row) for the days shown."""

    def __init__(self, first_day: date, days: int, span: tuple[int, int], step: int,
                 tz: ZoneInfo):
        self.first_day, self.days, self.tz = first_day, days, tz
        self.lo, self.step = span[0], step
        self.count = (span[1] - span[0]) // step

    def minute(self, moment: datetime) -> int:
        local = moment.astimezone(self.tz)
        return ((local.date() - self.first_day).days * DAY_MINUTES + local.hour * 60
                + local.minute)

    def per_day(self, start: datetime, end: datetime, *, inner: bool):
        """(day index, first row, last row) of the rows [start, end) covers on each day it
        meets: only the rows wholly inside when ``inner``, else every row it overlaps."""
        a, b = self.minute(start), self.minute(end)
        first_day = max(0, a // DAY_MINUTES)
        last_day = min(self.days - 1, (b - 1) // DAY_MINUTES)
        for d in range(first_day, last_day + 1):
            ra = (a - d * DAY_MINUTES - self.lo) / self.step
            rb = (b - d * DAY_MINUTES - self.lo) / self.step
            if inner:
                first, last = -int(-ra // 1), int(rb // 1)  # ceil, floor
            else:
                first, last = int(ra // 1), -int(-rb // 1)  # floor, ceil
            first, last = max(first, 0), min(last, self.count)
            if first < last:
                yield d, first, last


def _paint(states: list[list[str]], rows: _Rows, periods, state: str, *, inner: bool) -> None:
    for s, e in periods:
        for d, first, last in rows.per_day(s, e, inner=inner):
            states[d][first:last] = [state] * (last - first)


def _paint_own(states: list[list[str]], rows: _Rows, own) -> None:
    """Yours, a booking at a time: each is its own block (``own:<id>``), linking to the
    booking's page."""
    for period in own:
        s, e = period[0], period[1]
        state = f"{OWN}:{period[2]}" if len(period) > 2 else OWN
        for d, first, last in rows.per_day(s, e, inner=False):
            states[d][first:last] = [state] * (last - first)


def build_week(*, equipment: Equipment, first_day: date,
               free: list[tuple[datetime, datetime]], now: datetime,
               own: list[tuple] = (), weeks: int = 1,
               book_url: str | None = None, booking_url: str | None = None) -> Week:
    """``free``: ``free_intervals`` over the ``weeks`` × seven days (sorted, disjoint, UTC),
    read over ``free_range`` of them (a free period cut by the edge keeps its length);
    ``own``: the viewer's organisation's active bookings of the equipment in them (UTC
    start, end and optionally the booking's id); ``book_url``: the booking form free blocks
    and periods link to (None: no links, for viewers who cannot book); ``booking_url``: a
    booking's page, with ``{}`` for its id (yours link to it)."""
    hub = equipment.hub
    tz = ZoneInfo(hub.timezone)
    start, end = week_bounds(first_day, tz, weeks)
    opens = open_intervals(hub.opening_hours, hub.timezone, start, end)
    step = row_minutes(equipment.slot_granularity)
    count = DAYS * weeks
    days = [first_day + timedelta(days=i) for i in range(count)]
    shorts = [str(name) for name in WEEKDAYS_SHORT]
    slots = _free_list(equipment, free, tz, shorts, start, end)
    shown = [slot for slot in slots if slot.shown]
    markup = _Markup(book_url, booking_url)
    free_html = markup.free(shown)
    span = _row_range(opens, tz, step)
    zone = zone_text(tz, days)
    length = max(equipment.min_duration, step)
    if span is None:  # closed on every one of these days
        return Week(first_day=first_day, days=days, columns=[], labels=[], free=shown,
                    timezone=hub.timezone, step=step, free_html=free_html, zone=zone,
                    book_length=length)
    rows = _Rows(first_day, count, span, step, tz)
    states = [[UNAVAILABLE] * rows.count for _ in days]
    # Past: every row that starts before now.
    past = (rows.minute(now) - span[0]) / step
    for d in range(count):
        n = min(rows.count, max(0, -int(-(past - d * DAY_MINUTES / step) // 1)))
        states[d][:n] = [PAST] * n
    _paint_own(states, rows, own)
    _close(states, rows, opens)
    _paint(states, rows, free, FREE, inner=True)
    # Each row's wall-clock start, and the last row's end ("24:00" for midnight).
    minutes = range(span[0], span[1] + step, step)
    clock = [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
    offsets = [timedelta(minutes=m) for m in minutes]  # from local midnight, wall clock
    labels = clock[:-1]
    free_starts = [s for s, _ in free]
    columns: list[list[Day]] = []
    local_now = now.astimezone(tz)
    for d, day in enumerate(days):
        if d % DAYS == 0:
            columns.append([])
        blocks = _blocks(equipment, day, states[d], tz, free, free_starts, slots, markup,
                         clock, offsets)
        html = markup.blocks(blocks)
        today = day == local_now.date()
        if today:
            html += _now_line(local_now, span, step)
        columns[-1].append(Day(day, f"{markup.weekday(day)} {markup.month_day(day)}",
                               shorts[day.weekday()], blocks, html, today))
    return Week(first_day=first_day, days=days, columns=columns, labels=labels, free=shown,
                timezone=hub.timezone, step=step, free_html=free_html,
                times_html=markup.times(labels), zone=zone, book_length=length)


def _now_line(now: datetime, span: tuple[int, int], step: int) -> SafeString:
    """A line across today's column at the time it is (when a row shows it)."""
    at = (now.hour * 60 + now.minute - span[0]) / step
    if not 0 <= at < (span[1] - span[0]) // step:
        return mark_safe("")
    row = int(at)
    return mark_safe(f'\n<span class="week-now" aria-hidden="true" '  # noqa: S308 (numbers)
                     f'style="grid-row: {row + 2}; --at: {(at - row) * 100:.0f}%"></span>')


def _close(states: list[list[str]], rows: _Rows, opens) -> None:
    """Closed: the rows no open period overlaps."""
    touched = [[] for _ in states]
    for s, e in opens:
        for d, first, last in rows.per_day(s, e, inner=False):
            touched[d].append((first, last))
    for d, ranges in enumerate(touched):
        at = 0
        for first, last in sorted(ranges) + [(rows.count, rows.count)]:
            if first > at:
                states[d][at:first] = [CLOSED] * (first - at)
            at = max(at, last)


def _free_list(equipment: Equipment, free, tz: ZoneInfo, shorts: list[str],
               start: datetime, end: datetime) -> list[Slot]:
    """The free periods as the list under the grid offers them, each in words, whole
    (also where they run on beyond the days shown); ``shown``: those that meet the days."""
    names: dict[date, str] = {}

    def name(day: date) -> str:
        if day not in names:
            names[day] = (f"{shorts[day.weekday()]} "
                          f"{formats.date_format(day, 'MONTH_DAY_FORMAT')}")
        return names[day]

    slots = []
    for s, e in free:
        slot = _slot(equipment, s, e, s, tz)
        slot.shown = s < end and e > start
        if slot.shown:
            starts = slot.start.date()
            ends, end_clock = _end_clock(slot.start, slot.end)
            slot.text = (f"{name(starts)} {_clock(slot.start)}–"
                         f"{name(ends) + ' ' if ends != starts else ''}{end_clock}")
        slots.append(slot)
    return slots


def _blocks(equipment, day: date, states: list[str], tz: ZoneInfo, free, free_starts,
            slots: list[Slot], markup: _Markup, clock: list[str],
            offsets: list[timedelta]) -> list[Block]:
    """The day's rows, run by run; a free run splits where one free period meets the
    next. A free block proposes the booking from its start (the free period's own slot
    when it starts with it)."""
    weekday, month_day = markup.weekday(day), markup.month_day(day)
    midnight = datetime.combine(day, time(), tzinfo=tz)
    blocks = []
    first = 0
    for token, run in itertools.groupby(states):
        end_row = first + len(list(run))
        state, _sep, booking = token.partition(":")  # "own:<id>": a booking of yours
        while first < end_row:
            last, slot = end_row, None
            start = midnight + offsets[first]
            if state == FREE:
                s_utc = start.astimezone(UTC)
                i = bisect.bisect_right(free_starts, s_utc) - 1
                f_start, f_end = free[i]
                slot = (slots[i] if f_start == s_utc
                        else _slot(equipment, s_utc, f_end, f_start, tz))
                while last - first > 1 and midnight + offsets[last] > f_end:
                    last -= 1
            end = midnight + offsets[last]
            label = markup.states[state][0] % {
                "day": weekday, "date": month_day, "start": clock[first], "end": clock[last]}
            blocks.append(Block(start, end, state, first, last, label, slot,
                                f"{clock[first]}–{clock[last]}",
                                int(booking) if booking else None))
            first = last
    return blocks


class _Markup:
    """The words of one page (translated once) and the markup of its blocks and free
    periods; every value is escaped."""

    def __init__(self, book_url: str | None, booking_url: str | None = None):
        self.book_url = escape(book_url) if book_url else None
        self.booking_url = escape(booking_url) if booking_url else None
        self.states = {
            FREE: (_("Free, %(day)s %(date)s %(start)s–%(end)s: choose it to book"),
                   _("Free"), ""),
            OWN: (_("Yours: your organisation's booking, %(day)s %(date)s "
                    "%(start)s–%(end)s"), _("Yours"), _("Your booking")),
            UNAVAILABLE: (_("Booked or unavailable, %(start)s–%(end)s"), "–",
                          _("Booked or unavailable")),
            PAST: (_("Past, %(start)s–%(end)s"), "", ""),
            CLOSED: (_("Closed, %(start)s–%(end)s"), "", ""),
        }
        self.opening = {  # each state's opening tag, up to its style attribute
            state: (f'<span class="slot {state}"'
                    + (f' title="{escape(title)}"' if title else "")
                    + ' style="grid-row: ')
            for state, (_label, _word, title) in self.states.items()}
        self.words = {state: escape(word) for state, (_l, word, _t) in self.states.items()}
        self.own_title = escape(self.states[OWN][2])

    @staticmethod
    def weekday(day: date) -> str:
        return dateformat.format(day, "l")

    @staticmethod
    def month_day(day: date) -> str:
        return formats.date_format(day, "MONTH_DAY_FORMAT")

    def _link(self, slot: Slot) -> str:
        if slot.link is None:  # a free period's link serves its block and its list item
            url = f"{self.book_url}?{slot.query.replace('&', '&amp;')}"
            slot.link = f'href="{url}" hx-get="{url}" hx-target="#booking-panel"'
        return slot.link

    def blocks(self, blocks: list[Block]) -> SafeString:
        """A block of two rows or more shows its times too ("08:00–20:00")."""
        out = []
        for b in blocks:
            word = self.words[b.state]
            times = (f"<small>{b.times}</small>" if b.last - b.first > 1 and word
                     and b.state != PAST else "")  # times made here, of digits
            inner = (f'<span aria-hidden="true">{word}{times}</span>'
                     f'<span class="visually-hidden">{escape(b.label)}</span>')
            if b.slot is not None and self.book_url:
                out.append(f'<a class="slot free" style="grid-row: {b.rows}" '
                           f'{self._link(b.slot)} data-start="{b.data_start}" '
                           f'data-end="{b.data_end}">{inner}</a>')
            elif b.booking is not None and self.booking_url:
                url = self.booking_url.replace("{}", str(b.booking))
                out.append(f'<a class="slot own" title="{self.own_title}" href="{url}" '
                           f'style="grid-row: {b.rows}">{inner}</a>')
            else:
                out.append(f"{self.opening[b.state]}{b.rows}\">{inner}</span>")
        return mark_safe("\n".join(out))  # noqa: S308 (every value above is escaped)

    def times(self, labels: list[str]) -> SafeString:
        """The row times' column: an empty cell beside the days' headings, then a time a
        row ("08:00", made here)."""
        return mark_safe("<span></span>" + "".join(  # noqa: S308 (times made here)
            f"<span>{label}</span>" for label in labels))

    def free(self, slots: list[Slot]) -> SafeString:
        if self.book_url:
            items = (f"<li><a {self._link(s)}>{escape(s.text)}</a></li>" for s in slots)
        else:
            items = (f"<li>{escape(s.text)}</li>" for s in slots)
        return mark_safe("\n".join(items))  # noqa: S308 (every value above is escaped)
