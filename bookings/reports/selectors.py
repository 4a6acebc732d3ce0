"""Operations reports (issue #7): utilization per equipment and hub, billing per SME per
month, and their CSV form. Pure reads in the selectors style: every function takes the
acting operator and covers only the hubs it runs; the admin console passes ``ALL_HUBS``
for platform staff.

Utilization of an equipment over a period [start, end):

- *open hours*: the hub's weekly opening hours within the period, minus the
  equipment's maintenance windows (time the equipment could not have been booked);
- *booked hours*: bookings that held the slot — confirmed, checked in, completed or
  no-show (a no-show kept others out) — clipped to the period. Not clipped to the
  opening hours: should the hours have changed after booking, utilization may pass 1;
- *actual hours*: how long the machines were active (their state signal: usage
  evidence) in the bookings that held the slot, counted where they start like the
  counts below; None when none of them has usage evidence (no state signal);
- *utilization* = booked / open (None without open hours);
- *no-show rate* = no-shows / (completed + no-shows) among bookings *starting* in the
  period, so consecutive periods never count a booking twice (None when there are none).

Billing (issue #16) reads statement lines and lives with them, a layer above bookings:
``billing.statements.report``. What stays here for it: the late-cancellation rule's
constants (``bookings.policy.late_cancellation_fee`` reads them) and ``month_bounds``.

Queries are per figure family, never per row: utilization costs three (equipment,
maintenance, one booking aggregate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Greatest, Least

from core import csv as core_csv
from core.validators import validate_period
from equipment.errors import HUB_NOT_FOUND
from equipment.hours import open_intervals, subtract
from equipment.models import Equipment, Hub, MaintenanceWindow
from organizations.models import Organization

from ..models import Booking

S = Booking.Status

# Statuses whose period counts as booked: the slot was held for the SME.
BOOKED = (S.CONFIRMED, S.CHECKED_IN, S.COMPLETED, S.NO_SHOW)

# Cancellation policy: an SME cancelling less than this before the start pays this share.
LATE_CANCELLATION = timedelta(hours=24)
LATE_CANCELLATION_SHARE = Decimal("0.5")

MAX_REPORT_RANGE = timedelta(days=366)

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
HOUR = timedelta(hours=1)
ZERO = timedelta(0)


class _AllHubs:
    """Platform staff in the admin console: every operator's hubs."""

    def __repr__(self) -> str:
        return "ALL_HUBS"


ALL_HUBS = _AllHubs()
Operator = Organization | _AllHubs


def operated_hubs(operator: Operator | None) -> QuerySet[Hub]:
    """The hubs ``operator`` runs; none for an organisation that is not a flagship firm."""
    if operator is ALL_HUBS:
        return Hub.objects.all()
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        return Hub.objects.none()
    return Hub.objects.filter(operator=operator)


def operated_hub(operator: Operator | None, slug: str) -> Hub:
    hub = operated_hubs(operator).filter(slug=slug).first()
    if hub is None:
        raise HUB_NOT_FOUND.error()
    return hub


def check_period(start: datetime, end: datetime) -> None:
    """The rules for a report period, in one place for the API and the console."""
    validate_period(start, end, max_range=MAX_REPORT_RANGE)


def hours(duration: timedelta) -> Decimal:
    return (Decimal(duration // timedelta(microseconds=1)) / Decimal(3_600_000_000)).quantize(
        CENT, ROUND_HALF_UP)


def ratio(part: timedelta | int, whole: timedelta | int) -> Decimal | None:
    if not whole:
        return None
    if isinstance(whole, timedelta):
        part, whole = part // timedelta(microseconds=1), whole // timedelta(microseconds=1)
    return (Decimal(part) / Decimal(whole)).quantize(RATIO, ROUND_HALF_UP)


# --- one booking's usage --------------------------------------------------------------

@dataclass(frozen=True)
class Usage:
    """Booked vs actual hours of one booking. Actual use comes from the equipment's state
    signal (an MTConnect Execution, an OPC UA state node, an MQTT state metric), recorded
    when the booking's trial is collected; None where the equipment has none."""

    booked_hours: Decimal
    actual_hours: Decimal | None
    actual_start: datetime | None
    actual_end: datetime | None


def usage(booking: Booking) -> Usage:
    seconds = booking.actual_seconds
    return Usage(booked_hours=hours(booking.end - booking.start),
                 actual_hours=None if seconds is None else hours(timedelta(seconds=seconds)),
                 actual_start=booking.actual_start, actual_end=booking.actual_end)


# --- utilization ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Figures:
    open: timedelta
    booked: timedelta
    actual: timedelta | None
    completed: int
    no_shows: int

    @property
    def open_hours(self) -> Decimal:
        return hours(self.open)

    @property
    def booked_hours(self) -> Decimal:
        return hours(self.booked)

    @property
    def actual_hours(self) -> Decimal | None:
        return None if self.actual is None else hours(self.actual)

    @property
    def utilization(self) -> Decimal | None:
        return ratio(self.booked, self.open)

    @property
    def no_show_rate(self) -> Decimal | None:
        return ratio(self.no_shows, self.completed + self.no_shows)


@dataclass(frozen=True)
class EquipmentUtilization(_Figures):
    equipment_id: int
    equipment: str
    hub: str  # slug
    hub_name: str


@dataclass(frozen=True)
class HubUtilization(_Figures):
    hub: str  # slug
    hub_name: str
    equipment_count: int


def utilization(*, operator: Operator | None, start: datetime, end: datetime,
                hub: Hub | None = None) -> list[EquipmentUtilization]:
    """Per equipment of ``operator``'s hubs (or of ``hub`` alone), ordered by hub and
    name. Retired equipment is left out unless it was booked in the period."""
    check_period(start, end)
    hubs = operated_hubs(operator)
    if hub is not None:
        hubs = hubs.filter(pk=hub.pk)
    equipment = list(Equipment.objects.filter(hub__in=hubs).select_related("hub")
                     .order_by("hub__name", "name", "pk"))
    if not equipment:
        return []
    maintenance = defaultdict(list)
    for equipment_id, s, e in (MaintenanceWindow.objects
                               .filter(equipment__hub__in=hubs, start__lt=end, end__gt=start)
                               .order_by().values_list("equipment_id", "start", "end")):
        maintenance[equipment_id].append((s, e))
    clipped = ExpressionWrapper(Least(F("end"), Value(end)) - Greatest(F("start"), Value(start)),
                                output_field=DurationField())
    in_period = Q(start__gte=start)  # counted where they start
    figures = {
        row["equipment_id"]: row
        for row in (Booking.objects.filter(equipment__hub__in=hubs, start__lt=end, end__gt=start)
                    .order_by().values("equipment_id").annotate(
                        booked=Sum(clipped, filter=Q(status__in=BOOKED)),
                        actual=Sum("actual_seconds", filter=in_period & Q(status__in=BOOKED)),
                        completed=Count("pk", filter=in_period & Q(status=S.COMPLETED)),
                        no_shows=Count("pk", filter=in_period & Q(status=S.NO_SHOW))))
    }
    hub_open: dict[int, list] = {}
    out = []
    for item in equipment:
        row = figures.get(item.pk)
        if row is None and item.status == Equipment.Status.RETIRED:
            continue
        if item.hub_id not in hub_open:
            hub_open[item.hub_id] = open_intervals(item.hub.opening_hours, item.hub.timezone,
                                                   start, end)
        free = subtract(hub_open[item.hub_id], maintenance.get(item.pk, []))
        out.append(EquipmentUtilization(
            open=sum((e - s for s, e in free), ZERO),
            booked=(row and row["booked"]) or ZERO,
            actual=None if row is None or row["actual"] is None
            else timedelta(seconds=row["actual"]),
            completed=row["completed"] if row else 0,
            no_shows=row["no_shows"] if row else 0,
            equipment_id=item.pk, equipment=item.name, hub=item.hub.slug,
            hub_name=item.hub.name))
    return out


def _total(items: list, name: str):
    """The sum of one field over non-empty ``items`` (timedeltas, Decimals or counts); of
    those that have it, for a figure some may lack (None when none has it)."""
    values = [value for item in items if (value := getattr(item, name)) is not None]
    return sum(values[1:], values[0]) if values else None


def by_hub(rows: Iterable[EquipmentUtilization]) -> list[HubUtilization]:
    """Roll the per-equipment figures up to their hubs (sums of hours and counts, so a
    hub's utilization weighs each equipment by its open hours)."""
    groups: dict[str, list[EquipmentUtilization]] = {}
    for row in rows:
        groups.setdefault(row.hub, []).append(row)
    return [HubUtilization(hub=slug, hub_name=group[0].hub_name, equipment_count=len(group),
                           **{f.name: _total(group, f.name) for f in fields(_Figures)})
            for slug, group in groups.items()]


# --- months ---------------------------------------------------------------------------

def month_bounds(month: date, tz_name: str) -> tuple[datetime, datetime]:
    """[first midnight of ``month``, first midnight of the next) in a time zone."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    tz = ZoneInfo(tz_name)
    return datetime.combine(first, time(), tz), datetime.combine(following, time(), tz)


# --- CSV ------------------------------------------------------------------------------

UTILIZATION_COLUMNS = ["hub", "equipment_id", "equipment", "open_hours", "booked_hours",
                       "actual_hours", "utilization", "completed", "no_shows", "no_show_rate"]


def _write(columns: list[str], rows: Iterable[list]) -> str:
    # Names are user input: core.csv writes them as text, never as a formula.
    return core_csv.text(columns, rows, lineterminator="\r\n")


def utilization_csv(rows: Iterable[EquipmentUtilization]) -> str:
    return _write(UTILIZATION_COLUMNS, (
        [r.hub, r.equipment_id, r.equipment, r.open_hours, r.booked_hours, r.actual_hours,
         r.utilization, r.completed, r.no_shows, r.no_show_rate] for r in rows))
