"""Reads of bookings. Every read that crosses organisations takes the acting one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import DateTimeRangeField
from django.contrib.postgres.fields.ranges import DateTimeTZRange
from django.db import connection
from django.db.models import CharField, Func, Q, QuerySet, Value
from django.utils import timezone

from core import db
from core.errors import NotFound, valid_id
from equipment.hours import open_intervals, subtract
from equipment.models import Equipment, MaintenanceWindow
from organizations.models import Organization

from .models import Booking

MAX_AVAILABILITY_RANGE = timedelta(days=31)


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def overlapping(bookings: QuerySet[Booking], start: datetime, end: datetime) -> QuerySet[Booking]:
    """Bookings whose blocked range [start, blocked_until) meets [start, end). On PostgreSQL
    written as a range overlap, so the exclusion constraint's GiST index answers it
    without reading the equipment's whole history."""
    if connection.vendor == "postgresql":
        return bookings.alias(period=TsTzRange("start", "blocked_until", Value("[)"))).filter(
            period__overlap=DateTimeTZRange(start, end, "[)"))
    return bookings.filter(start__lt=end, blocked_until__gt=start)


def bookings_visible_to(organization: Organization | None) -> QuerySet[Booking]:
    """An SME sees its own bookings; an operator those on the hubs it runs; others none."""
    qs = Booking.objects.select_related("equipment", "equipment__hub", "organization",
                                        "trial_lead")
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(equipment__hub__operator=organization)
    return qs.none()


def bookings_actable_by(organization: Organization | None) -> QuerySet[Booking]:
    """The bookings ``organization`` may act on at all: its own (as the SME that booked)
    and those on the hubs it operates (``services`` decides which move each may make).
    Read before any lock is taken, so a caller never waits for, or locks, what another
    tenant holds."""
    if organization is None:
        return Booking.objects.none()
    return Booking.objects.filter(Q(organization=organization)
                                  | Q(equipment__hub__operator=organization))


def booking_for(organization: Organization | None, booking_id) -> Booking:
    pk = valid_id(booking_id)
    booking = bookings_visible_to(organization).filter(pk=pk).first() if pk else None
    if booking is None:
        raise NotFound("No such booking.", code="booking_not_found")
    return booking


@dataclass(frozen=True)
class Neighbours:
    """What the database holds around a requested period, fetched in one query."""

    conflicts: list[tuple[datetime, datetime, datetime]]  # (start, end, blocked_until)
    maintenance: list[tuple[datetime, datetime]]
    own_open: int


_ACTIVE_SQL = ", ".join(f"'{status}'" for status in Booking.ACTIVE)
_NEIGHBOURS_SQL = {
    # The blocked range as the exclusion constraint's GiST index has it, so the index
    # answers the overlap without reading the equipment's history.
    "postgresql": "tstzrange(b.start, b.blocked_until, '[)') && tstzrange(%s, %s, '[)')",
    "default": "b.start < %s AND b.blocked_until > %s",
}


@cache
def _neighbours_sql(vendor: str, limited: bool) -> tuple[str, bool]:
    overlap = _NEIGHBOURS_SQL.get(vendor, _NEIGHBOURS_SQL["default"])
    sql = (
        'SELECT 1, b.start, b."end", b.blocked_until FROM bookings_booking b '  # noqa: S608 - constants and model metadata only
        f"WHERE b.equipment_id = %s AND b.status IN ({_ACTIVE_SQL}) AND {overlap} "
        "UNION ALL "
        'SELECT 2, m.start, m."end", m."end" FROM equipment_maintenancewindow m '
        'WHERE m.equipment_id = %s AND m.start < %s AND m."end" > %s')
    if limited:
        # Only whether the limit is reached matters: at most ``limit`` rows, however many
        # bookings the SME holds.
        sql += (' UNION ALL SELECT 3, o.start, o."end", o.blocked_until FROM ('  # noqa: S608 - constants and model metadata only
                'SELECT b.start, b."end", b.blocked_until FROM bookings_booking b '
                f"WHERE b.equipment_id = %s AND b.status IN ({_ACTIVE_SQL}) "
                "AND b.organization_id = %s LIMIT %s) o")
    return sql, vendor == "postgresql"


def neighbours(*, equipment: Equipment, organization: Organization, start: datetime,
               end: datetime) -> Neighbours:
    """Active bookings whose blocked range meets [start, end + buffer), maintenance windows
    overlapping [start, end), and — where the equipment limits them — how many active
    bookings ``organization`` holds on it (counted up to the limit). One UNION ALL query,
    written out: the create path's query budget is tight, and compiling the ORM's union
    cost more than running it."""
    ops = connection.ops
    buffer_end = end + timedelta(minutes=equipment.changeover_buffer)
    limit = equipment.max_open_bookings_per_sme
    sql, range_first = _neighbours_sql(connection.vendor, limit is not None)
    lo, hi = ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)
    params = [equipment.pk, *((lo, ops.adapt_datetimefield_value(buffer_end)) if range_first
                              else (ops.adapt_datetimefield_value(buffer_end), lo)),
              equipment.pk, hi, lo]
    if limit is not None:
        params += [equipment.pk, organization.pk, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    to_datetime = db.field_converter(Booking, "start")
    conflicts, maintenance, own_open = [], [], 0
    for kind, s, e, blocked in rows:
        if kind == 1:
            conflicts.append((to_datetime(s), to_datetime(e), to_datetime(blocked)))
        elif kind == 2:
            maintenance.append((to_datetime(s), to_datetime(e)))
        else:
            own_open += 1
    return Neighbours(sorted(conflicts), sorted(maintenance), own_open)


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


def free_intervals(*, equipment: Equipment, start: datetime, end: datetime,
                   now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Bookable periods of ``equipment`` within [start, end): opening hours, minus
    maintenance, minus active bookings widened by the changeover buffer, clipped to the
    lead time and horizon, cut to the slot grid, each at least the minimum duration.
    Any sub-period on the grid of one of them, of an allowed duration, can be booked.

    ``equipment.hub`` should be loaded; costs one query."""
    now = now or timezone.now()
    hub = equipment.hub
    tz = ZoneInfo(hub.timezone)
    lo = max(start, now + timedelta(minutes=equipment.lead_time))
    hi = min(end, now + timedelta(days=equipment.booking_horizon) + timedelta(
        minutes=equipment.max_duration))
    if lo >= hi or equipment.status != Equipment.Status.AVAILABLE:
        return []
    buffer = timedelta(minutes=equipment.changeover_buffer)
    kind = CharField()
    bookings = overlapping(
        Booking.objects.filter(equipment=equipment, status__in=Booking.ACTIVE).order_by(),
        lo, hi + buffer).values_list(
        Value("b", output_field=kind), "start", "blocked_until")
    windows = MaintenanceWindow.objects.filter(
        equipment=equipment, start__lt=hi, end__gt=lo).order_by().values_list(
        Value("m", output_field=kind), "start", "end")
    taken = [
        # A new booking [a, b) clashes with an existing one iff a < its blocked_until and
        # its start < b + buffer: so the existing one takes [start - buffer, blocked_until).
        (s - buffer, e) if k == "b" else (s, e)
        for k, s, e in bookings.union(windows, all=True)
    ]
    free = subtract(open_intervals(hub.opening_hours, hub.timezone, lo, hi), taken)
    g = equipment.slot_granularity
    latest_start = now + timedelta(days=equipment.booking_horizon)
    out = []
    for s, e in free:
        s, e = _ceil_to_grid(s, g, tz), _floor_to_grid(e, g, tz)
        if s > latest_start:
            continue
        if (e - s) >= timedelta(minutes=equipment.min_duration):
            out.append((s, e))
    return out


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


def cancellation_reason(booking: Booking) -> str | None:
    """Why a cancelled (or missed) booking ended: the reason in its last such event. The
    booking's ``decision_reason`` is the operator's approve/reject decision, never this."""
    if booking.status not in (Booking.Status.CANCELLED, Booking.Status.NO_SHOW):
        return None
    return (booking.events.filter(to_status=booking.status).order_by("-at", "-pk")
            .values_list("reason", flat=True).first())
