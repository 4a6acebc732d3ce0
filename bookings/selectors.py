"""Reads of bookings. Every read that crosses organisations takes the acting one."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Case, JSONField, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import JSONObject
from django.utils import timezone

from core import db, reasons
from core.errors import valid_id
from equipment.hours import open_intervals, subtract
from equipment.models import Equipment, MaintenanceWindow
from organizations.models import Organization

from .errors import BOOKING_NOT_FOUND
from .models import Booking, BookingEvent
from .policy import open_bookings_limit_reached

# The longest period one availability question may cover (the API, the catalogue's "free
# from … until" search, the portal's calendar): 92 days, a quarter, so that a planner sees
# thirteen weeks in one call and one query, not one page per week.
MAX_AVAILABILITY_RANGE = timedelta(days=92)


def bookings_visible_to(organization: Organization | None) -> QuerySet[Booking]:
    """An SME sees its own bookings; an operator those on the hubs it runs; others none."""
    qs = Booking.objects.select_related("equipment", "equipment__hub", "organization",
                                        "trial_lead")
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(operator=organization)
    return qs.none()


def bookings_actable_by(organization: Organization | None) -> QuerySet[Booking]:
    """The bookings ``organization`` may act on at all: its own (as the SME that booked)
    and those on the hubs it operates (``services`` decides which move each may make).
    Read before any lock is taken, so a caller never waits for, or locks, what another
    tenant holds."""
    if organization is None:
        return Booking.objects.none()
    return Booking.objects.filter(Q(organization=organization)
                                  | Q(operator=organization))


def booking_for(organization: Organization | None, booking_id) -> Booking:
    pk = valid_id(booking_id)
    booking = bookings_visible_to(organization).filter(pk=pk).first() if pk else None
    if booking is None:
        raise BOOKING_NOT_FOUND.error()
    return booking


# --- The events feed (bookings.events_api) -----------------------------------------------


def _events() -> QuerySet[BookingEvent]:
    """Events with what an item shows (the hub's time zone, the actors) loaded."""
    return BookingEvent.objects.select_related("booking__equipment__hub", "actor_user",
                                               "actor_organization")


def events_visible_to(organization: Organization | None) -> QuerySet[BookingEvent]:
    """The events of the bookings ``organization`` may see (``bookings_visible_to``): an
    SME's by the organisation stored on each event, an operator's by the hub operator
    stored on it (the indexes on (organization | operator, at, id) seek a cursor page at
    any depth, whatever the caller's share of all events); none for anyone else."""
    if organization is None:
        return BookingEvent.objects.none()
    if organization.kind == Organization.Kind.SME:
        return _events().filter(organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return _events().filter(operator=organization)
    return BookingEvent.objects.none()


def events_of_booking(organization: Organization | None, booking_id) -> QuerySet[BookingEvent]:
    """One booking's events; another organisation's booking is ``booking_not_found``."""
    return _events().filter(booking=booking_for(organization, booking_id))


# --- What is around a slot ---------------------------------------------------------------
#
# The one read of what may block a period of an equipment, used by booking creation (under
# the equipment lock), availability and the catalogue's "free between" search, so a rule
# stored in the database is read once and both sides agree. A new database-backed rule (a
# hub closure, a weekly hours cap) is a new named part of this query and a field of
# ``Surroundings``. On PostgreSQL the exclusion constraint ``booking_no_overlap`` (migration
# 0002) states the same booking rule: active bookings (``Booking.ACTIVE``, a guard test
# compares its predicate) whose [start, blocked_until) ranges overlap.


@dataclass(frozen=True)
class Surroundings:
    """What the database holds around [start, end) of one equipment, read in one query."""

    # Active bookings whose blocked range [start, blocked_until) meets [start, end + buffer):
    # (start, end, blocked_until), sorted.
    bookings: list[tuple[datetime, datetime, datetime]]
    # Maintenance windows overlapping [start, end): (start, end), sorted.
    maintenance: list[tuple[datetime, datetime]]
    # The asking organisation's active bookings on the equipment, counted up to its limit
    # of open bookings per SME (0 when no organisation asked or there is no limit).
    own_open: int
    buffer: timedelta  # the equipment's changeover buffer

    def taken(self) -> list[tuple[datetime, datetime]]:
        """The periods a new booking may not overlap. A new booking [a, b) clashes with an
        existing one iff a < its blocked_until and its start < b + buffer, so the existing
        one takes [start - buffer, blocked_until); a maintenance window takes itself."""
        return sorted([(s - self.buffer, blocked) for s, _e, blocked in self.bookings]
                      + self.maintenance)

    def overlapping(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime,
                                                                          datetime]]:
        """The bookings whose own [start, end) overlaps [start, end) (the rest are only too
        close: within the changeover buffer)."""
        return [b for b in self.bookings if b[0] < end and b[1] > start]


# The booked range as the exclusion constraint's GiST index has it, so the index answers
# the overlap without reading the equipment's history.
_OVERLAP = {
    "postgresql": ("tstzrange({start}, {blocked_until}, '[)') "
                   "&& tstzrange(%(start)s, %(end_with_buffer)s, '[)')"),
    "default": "{start} < %(end_with_buffer)s AND {blocked_until} > %(start)s",
}
# The equipment as the exclusion constraint's GiST index compares it. btree_gist's operator
# classes have no cross-type equality (bigint = integer), so an untyped parameter (a small
# integer, ``int4`` to the server) is an equality the GiST index cannot answer: the
# planner then ANDs the plain (equipment_id) B-tree with a GiST scan on the time range
# alone, every equipment's bookings in the period (~60 ms at 1M bookings). Cast to the
# column's type, both conditions are the index's (a fraction of a millisecond).
_EQUIPMENT = {
    "postgresql": "%(equipment)s::{type}",
    "default": "%(equipment)s",
}
# The part each row comes from (the query's first column).
_BOOKING, _MAINTENANCE, _OWN_OPEN = 1, 2, 3


def _active_overlapping(vendor: str) -> tuple[str, str]:
    """The conditions "an active booking of %(equipment)s" and "its blocked range meets
    [%(start)s, %(end_with_buffer)s)" on the bookings aliased ``b``, as the exclusion
    constraint's GiST index answers them (both of its columns)."""
    b = functools.partial(db.column, Booking, alias="b")
    # Literal values, not parameters: the planner must see that the predicate implies the
    # exclusion constraint's partial index (``status IN (…active…)``).
    active = ", ".join(f"'{status}'" for status in Booking.ACTIVE)
    equipment = _EQUIPMENT.get(vendor, _EQUIPMENT["default"]).format(
        type=Booking._meta.get_field("equipment").db_type(connection))
    is_active = f"{b('equipment')} = {equipment} AND {b('status')} IN ({active})"
    overlap = _OVERLAP.get(vendor, _OVERLAP["default"]).format(
        start=b("start"), blocked_until=b("blocked_until"))
    return is_active, overlap


@cache
def _own_active_sql(vendor: str) -> str:
    b = functools.partial(db.column, Booking, alias="b")
    is_active, overlap = _active_overlapping(vendor)
    return (f"SELECT {b('start')}, {b('end')}, {b('id')} FROM {db.table(Booking)} b "  # noqa: S608 - model metadata and constants only
            f"WHERE {is_active} AND {overlap} AND {b('organization')} = %(organization)s "
            f"AND {b('start')} < %(end)s AND {b('end')} > %(start)s "
            f"ORDER BY {b('start')}, {b('id')}")


def own_active_between(organization: Organization | None, *, equipment: Equipment,
                       start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
    """An SME's active bookings of ``equipment`` overlapping [start, end): (start, end,
    id), earliest first; nothing for any other organisation. Read through the exclusion
    constraint's index (the equipment and the period) like ``around_slot``, whatever
    the table holds: the SME's other bookings or the status alone are no way in (a
    bitmap of every active booking in the table once the single organisation index was
    gone)."""
    if organization is None or organization.kind != Organization.Kind.SME:
        return []
    adapt = connection.ops.adapt_datetimefield_value
    params = {"equipment": equipment.pk, "organization": organization.pk,
              "start": adapt(start), "end": adapt(end), "end_with_buffer": adapt(end)}
    with db.cursor() as cursor:
        cursor.execute(_own_active_sql(connection.vendor), params)
        rows = cursor.fetchall()
    to_datetime = db.field_converter(Booking, "start")
    return [(to_datetime(s), to_datetime(e), pk) for s, e, pk in rows]


@cache
def _around_sql(vendor: str, limited: bool) -> str:
    """The named parts of the read, UNION ALL-ed, with named parameters: ``equipment``,
    the period ``start``/``end``, ``end_with_buffer`` (the end widened by the changeover
    buffer) and, ``limited``, ``organization`` and ``limit``. Table and column names come
    from the models' metadata."""
    b = functools.partial(db.column, Booking, alias="b")
    m = functools.partial(db.column, MaintenanceWindow, alias="m")
    is_active, overlap = _active_overlapping(vendor)
    parts = {
        "bookings": (
            f"SELECT {_BOOKING}, {b('start')}, {b('end')}, {b('blocked_until')} "  # noqa: S608 - model metadata and constants only
            f"FROM {db.table(Booking)} b WHERE {is_active} AND {overlap}"),
        "maintenance": (
            f"SELECT {_MAINTENANCE}, {m('start')}, {m('end')}, {m('end')} "  # noqa: S608 - model metadata and constants only
            f"FROM {db.table(MaintenanceWindow)} m WHERE {m('equipment')} = %(equipment)s "
            f"AND {m('start')} < %(end)s AND {m('end')} > %(start)s"),
    }
    if limited:
        # Only whether the limit is reached matters: at most ``limit`` rows, however many
        # bookings the SME holds.
        parts["own_open"] = (
            f"SELECT {_OWN_OPEN}, o.s, o.e, o.e FROM (SELECT {b('start')} AS s, {b('end')} AS e "  # noqa: S608 - model metadata and constants only
            f"FROM {db.table(Booking)} b WHERE {is_active} "
            f"AND {b('organization')} = %(organization)s LIMIT %(limit)s) o")
    return " UNION ALL ".join(parts.values())


def around_slot(*, equipment: Equipment, start: datetime, end: datetime,
                organization: Organization | None = None) -> Surroundings:
    """What is around [start, end) of ``equipment``: active bookings whose blocked range
    meets [start, end + buffer), maintenance windows overlapping [start, end) and — where
    ``organization`` is given and the equipment limits open bookings per SME — how many
    active bookings it holds there (counted up to the limit). One query, written out: the
    create path's query budget is tight, and compiling the ORM's union cost more than
    running it."""
    adapt = connection.ops.adapt_datetimefield_value
    buffer = timedelta(minutes=equipment.changeover_buffer)
    limit = equipment.max_open_bookings_per_sme
    limited = organization is not None and limit is not None
    params = {"equipment": equipment.pk, "start": adapt(start), "end": adapt(end),
              "end_with_buffer": adapt(end + buffer)}
    if limited:
        params |= {"organization": organization.pk, "limit": limit}
    with db.cursor() as cursor:
        cursor.execute(_around_sql(connection.vendor, limited), params)
        rows = cursor.fetchall()
    to_datetime = db.field_converter(Booking, "start")
    bookings, maintenance, own_open = [], [], 0
    for part, s, e, blocked in rows:
        if part == _BOOKING:
            bookings.append((to_datetime(s), to_datetime(e), to_datetime(blocked)))
        elif part == _MAINTENANCE:
            maintenance.append((to_datetime(s), to_datetime(e)))
        else:
            own_open += 1
    return Surroundings(sorted(bookings), sorted(maintenance), own_open, buffer)


# The slot grid: local wall-clock multiples of the granularity from local midnight (the
# rule ``policy.is_aligned`` checks). Across a DST change it is not evenly spaced: grid
# times the clocks skip do not exist (Europe/Berlin, 2026-03-29, 120-minute grid: after
# 00:00 CET the next grid instant is 04:00 CEST; "02:00" would really be 03:00 CEST, off
# the grid), and grid times the clocks repeat exist twice. Rounding therefore works on
# instants: the nearest grid time read at the moment's own UTC offset, and where a DST
# change lies between the two, the same question asked again from the change.
# floor(x) <= x <= ceil(x) always, both on the grid.

_TICK = timedelta(microseconds=1)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset()


def _offset_change(inside: datetime, outside: datetime, tz: ZoneInfo) -> datetime:
    """The instant next to ``inside``, towards ``outside``, where the UTC offset ``inside``
    has ends: the first instant after it (or the last before it) with another offset,
    found by bisection (``inside`` and ``outside`` are less than a day or so apart, with
    one DST change between them)."""
    # In UTC: arithmetic on datetimes in a DST zone would be wall-clock arithmetic.
    inside, outside = inside.astimezone(UTC), outside.astimezone(UTC)
    offset = _offset(inside, tz)
    while abs(outside - inside) > _TICK:
        middle = inside + (outside - inside) / 2
        if _offset(middle, tz) == offset:
            inside = middle
        else:
            outside = middle
    return outside


def _grid_time_at_offset(moment: datetime, granularity: int, tz: ZoneInfo,
                         up: bool) -> tuple[datetime, timedelta]:
    """The grid wall-clock time at or before (after, ``up``) ``moment``'s, as the instant
    that reads so at ``moment``'s UTC offset; and that offset."""
    local = moment.astimezone(tz)
    offset = local.utcoffset()
    wall = local.replace(tzinfo=None)
    midnight = datetime.combine(wall.date(), time.min)
    step = timedelta(minutes=granularity)
    k = -(-(wall - midnight) // step) if up else (wall - midnight) // step
    grid_time = min(midnight + k * step, midnight + timedelta(days=1))
    return (grid_time - offset).replace(tzinfo=UTC), offset


def _ceil_to_grid(moment: datetime, granularity: int, tz: ZoneInfo) -> datetime:
    """The earliest instant of the slot grid at or after ``moment``."""
    candidate, offset = _grid_time_at_offset(moment, granularity, tz, up=True)
    if _offset(candidate, tz) != offset:
        # The clocks change before the candidate: nothing at this offset is on the grid
        # from ``moment`` to the change; round up from the change instead.
        return _ceil_to_grid(_offset_change(moment, candidate, tz), granularity,
                             tz).astimezone(moment.tzinfo)
    return candidate.astimezone(moment.tzinfo)


def _floor_to_grid(moment: datetime, granularity: int, tz: ZoneInfo) -> datetime:
    """The latest instant of the slot grid at or before ``moment``."""
    candidate, offset = _grid_time_at_offset(moment, granularity, tz, up=False)
    if _offset(candidate, tz) != offset:
        # The clocks changed after the candidate: nothing at this offset is on the grid
        # from the change to ``moment``; round down from just before the change.
        change = _offset_change(moment, candidate, tz)  # the last instant before it
        return _floor_to_grid(change, granularity, tz).astimezone(moment.tzinfo)
    return candidate.astimezone(moment.tzinfo)


def bookable_window(*, equipment: Equipment, start: datetime, end: datetime,
                    now: datetime) -> tuple[datetime, datetime] | None:
    """The part of [start, end) a booking of ``equipment`` may cover as of ``now``: from
    the lead time on, up to the horizon plus the longest booking (a booking may start on
    the horizon's last moment); None when nothing is left. ``bookings.search`` says the
    same in SQL (its equality test with ``free_intervals`` holds them together)."""
    lo = max(start, now + timedelta(minutes=equipment.lead_time))
    hi = min(end, now + timedelta(days=equipment.booking_horizon) + timedelta(
        minutes=equipment.max_duration))
    return (lo, hi) if lo < hi else None


def bookable_periods(free: list[tuple[datetime, datetime]], *, equipment: Equipment,
                     now: datetime, min_minutes: int | None = None,
                     ) -> list[tuple[datetime, datetime]]:
    """Raw free periods of ``equipment`` (open, nothing around them) → the bookable ones:
    each cut to the slot grid (DST-aware, in the hub's zone), starting no later than the
    horizon, and at least the minimum duration long (or ``min_minutes``, if longer). The
    one step after the set work, for ``free_intervals`` and the search across hubs alike.
    Rounding only shrinks a period, so a caller may drop beforehand any period shorter
    than the minimum or starting after the horizon."""
    tz = ZoneInfo(equipment.hub.timezone)
    g = equipment.slot_granularity
    latest_start = now + timedelta(days=equipment.booking_horizon)
    shortest = timedelta(minutes=max(equipment.min_duration, min_minutes or 0))
    out = []
    for s, e in free:
        s, e = _ceil_to_grid(s, g, tz), _floor_to_grid(e, g, tz)
        if s > latest_start:
            continue
        if (e - s) >= shortest:
            out.append((s, e))
    return out


def free_intervals(*, equipment: Equipment, start: datetime, end: datetime,
                   organization: Organization | None = None,
                   now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Bookable periods of ``equipment`` within [start, end): opening hours, minus what is
    around the slot (``around_slot``: maintenance, active bookings widened by the changeover
    buffer), clipped to the lead time and horizon, cut to the slot grid, each at least the
    minimum duration; none when the equipment is not available or ``organization`` (the
    SME asking, if given) already holds as many open bookings there as it may. Any
    sub-period on the grid of one of them, of an allowed duration, can be booked.

    ``equipment.hub`` should be loaded; costs one query. ``bookings.search.free_search``
    answers the same for many pieces of equipment at once."""
    now = now or timezone.now()
    hub = equipment.hub
    window = bookable_window(equipment=equipment, start=start, end=end, now=now)
    if window is None or equipment.status != Equipment.Status.AVAILABLE:
        return []
    lo, hi = window
    booker = limited_booker(organization)
    around = around_slot(equipment=equipment, start=lo, end=hi, organization=booker)
    if booker is not None and open_bookings_limit_reached(equipment, around.own_open):
        return []
    free = subtract(open_intervals(hub.opening_hours, hub.timezone, lo, hi), around.taken())
    return bookable_periods(free, equipment=equipment, now=now)


def limited_booker(organization: Organization | None) -> Organization | None:
    """Whose open bookings count against an equipment's limit per SME: the asking
    organisation if it is an SME (only an SME's own bookings count), else nobody."""
    return organization if organization and organization.kind == Organization.Kind.SME else None


def cancellable_overlapping(*, equipment_id: int, start: datetime,
                            end: datetime) -> QuerySet[Booking]:
    """The requested and confirmed bookings of one equipment overlapping [start, end): what
    maintenance or a status change over that period cancels (``services.cancel_overlapping``
    cancels exactly these, under the equipment lock; the console previews them). Checked-in
    trials are left for the operator to complete."""
    return (Booking.objects.select_related("organization", "equipment", "equipment__hub")
            .filter(equipment_id=equipment_id,
                    status__in=(Booking.Status.REQUESTED, Booking.Status.CONFIRMED),
                    start__lt=end, end__gt=start)
            .order_by("start", "pk"))


def in_progress_overlapping(*, equipment_id: int, start: datetime,
                            end: datetime) -> QuerySet[Booking]:
    """The checked-in bookings (trials in progress) of one equipment overlapping
    [start, end): what a maintenance window may not be planned over."""
    return (Booking.objects.filter(equipment_id=equipment_id, status=Booking.Status.CHECKED_IN,
                                   start__lt=end, end__gt=start)
            .order_by("start", "pk"))


def _last_to_status(events: QuerySet[BookingEvent], status) -> QuerySet[BookingEvent]:
    """The booking's latest event that moved it to ``status``, as its reason's record."""
    return (events.filter(to_status=status).order_by("-at", "-pk")
            .values(ended=JSONObject(text="reason", code="reason_code", args="reason_args")))


ENDED = (Booking.Status.CANCELLED, Booking.Status.NO_SHOW)


def ending_reason() -> Case:
    """Annotation of a bookings queryset: for a cancelled (or missed) booking, the record of
    the reason in its latest event to that status (one subquery, not a query per row, and
    only for those rows); read it with :func:`cancellation_reason`."""
    last = _last_to_status(BookingEvent.objects.filter(booking=OuterRef("pk")),
                           OuterRef("status"))[:1]
    return Case(When(status__in=ENDED, then=Subquery(last, output_field=JSONField())),
                default=None, output_field=JSONField())


def _ended(booking: Booking) -> dict | None:
    """The record of why a cancelled (or missed) booking ended (its last such event's
    reason): the booking's ``ended`` where :func:`ending_reason` annotated it, else read
    once and kept there."""
    if booking.status not in ENDED:
        return None
    if not hasattr(booking, "ended"):
        row = _last_to_status(booking.events.all(), booking.status).first()
        booking.ended = row and row["ended"]
    return booking.ended or None


def cancellation_reason(booking: Booking) -> str | None:
    """Why a cancelled (or missed) booking ended, in the active language. The booking's
    ``decision_reason`` is the operator's approve/reject decision, never this."""
    ended = _ended(booking)
    if ended is None:
        return None
    args = ended["args"]
    if isinstance(args, str):  # SQLite's json_object() keeps a JSON column as its text
        args = json.loads(args)
    return reasons.shown(ended["code"], args, ended["text"])


def cancellation_reason_code(booking: Booking) -> str | None:
    """The catalogue code of why it ended, where the platform wrote the reason (e.g.
    ``no_check_in``, ``maintenance``); None for one a person typed."""
    ended = _ended(booking)
    return (ended["code"] or None) if ended else None


# --- The operators' console (the floor) --------------------------------------------------


def no_show_grace() -> timedelta:
    """How long after its start a confirmed booking nobody checked in to may be marked a
    no-show (``BOOKING_NO_SHOW_GRACE_MINUTES``; the sweep and the console use the same)."""
    from django.conf import settings

    return timedelta(minutes=settings.BOOKING_NO_SHOW_GRACE_MINUTES)


def operator_bookings_between(organization: Organization | None, *, start: datetime,
                              end: datetime, hub_ids=None) -> QuerySet[Booking]:
    """The bookings on the hubs ``organization`` operates (only those, ``hub_ids`` given)
    that overlap [start, end), rejected and cancelled ones left out: the console's
    timeline and its day."""
    qs = (bookings_visible_to(organization)
          .filter(start__lt=end, end__gt=start)
          .exclude(status__in=(Booking.Status.REJECTED, Booking.Status.CANCELLED)))
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        return qs.none()
    if hub_ids is not None:
        qs = qs.filter(equipment__hub_id__in=hub_ids)
    return qs.order_by("start", "pk")


def requests_waiting(organization: Organization | None) -> QuerySet[Booking]:
    """Requests awaiting the operator's approval at its hubs, oldest request first."""
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        return Booking.objects.none()
    return (bookings_visible_to(organization).select_related("requested_by")
            .prefetch_related("attachments")
            .filter(status=Booking.Status.REQUESTED).order_by("created", "pk"))


def no_show_candidates(organization: Organization | None,
                       now: datetime | None = None) -> QuerySet[Booking]:
    """Confirmed bookings at the operator's hubs whose start plus the grace has passed
    with nobody checked in: what the no-show sweep would mark, earliest first."""
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        return Booking.objects.none()
    now = now or timezone.now()
    return (bookings_visible_to(organization)
            .filter(status=Booking.Status.CONFIRMED, start__lt=now - no_show_grace())
            .order_by("start", "pk"))


def in_progress_at_hubs(organization: Organization | None) -> QuerySet[Booking]:
    """Checked-in bookings (trials running, or waiting to be recorded as completed) at the
    hubs ``organization`` operates, earliest start first."""
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        return Booking.objects.none()
    return (bookings_visible_to(organization).filter(status=Booking.Status.CHECKED_IN)
            .order_by("start", "pk"))
