"""Reads of bookings. Every read that crosses organisations takes the acting one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import DateTimeRangeField
from django.contrib.postgres.fields.ranges import DateTimeTZRange
from django.db import connection
from django.db.models import CharField, Func, QuerySet, Value
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


def _ceil_to_grid(moment: datetime, granularity: int, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Wall-clock minutes from local midnight (zoneinfo arithmetic is wall-clock).
    minutes = (local - midnight) / timedelta(minutes=1)
    steps = -(-minutes // granularity)
    return (midnight + timedelta(minutes=steps * granularity)).astimezone(moment.tzinfo)


def _floor_to_grid(moment: datetime, granularity: int, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = (local - midnight) / timedelta(minutes=1)
    steps = minutes // granularity
    return (midnight + timedelta(minutes=steps * granularity)).astimezone(moment.tzinfo)


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
