"""The booking policy: one named check per rule, each returning a Violation or None.

Pure functions over a ``PolicyInput`` the service assembles (the equipment with its hub,
what the database says about neighbours, the clock), so every rule is testable alone and
all broken rules are reported together. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from core.errors import Violation
from equipment.hours import open_intervals
from equipment.models import Equipment
from equipment.wording import duration, zone_label
from organizations.models import Organization

# Stable codes (clients and tests match on these), each with its message, in the catalogue.
from .errors import (
    EQUIPMENT_UNAVAILABLE,
    LEAD_TIME,
    MAINTENANCE,
    MISALIGNED,
    OPEN_BOOKINGS_LIMIT,
    ORGANIZATION_UNVERIFIED,
    OUTSIDE_OPENING_HOURS,
    QUALIFICATION_REQUIRED,
    START_IN_PAST,
    TOO_FAR_AHEAD,
    TOO_LONG,
    TOO_SHORT,
    TRIAL_LEAD_REQUIRED,
)


@dataclass(frozen=True)
class PolicyInput:
    equipment: Equipment  # with .hub loaded
    organization: Organization
    start: datetime
    end: datetime
    now: datetime
    maintenance: list[tuple[datetime, datetime]]  # windows overlapping [start, end)
    open_bookings: int  # the SME's active bookings on this equipment
    qualified: bool | None  # None: no trial lead known


def check_equipment_status(p: PolicyInput) -> Violation | None:
    """The equipment must be available (not down or retired)."""
    if p.equipment.status != Equipment.Status.AVAILABLE:
        return EQUIPMENT_UNAVAILABLE.violation(
            status=p.equipment.get_status_display().lower())
    return None


def check_organization_verified(p: PolicyInput) -> Violation | None:
    """Only SMEs verified by platform staff may book."""
    if not p.organization.verified:
        return ORGANIZATION_UNVERIFIED.violation()
    return None


def is_aligned(moment: datetime, granularity: int, tz: ZoneInfo) -> bool:
    """On a multiple of ``granularity`` minutes from local midnight, whole minutes."""
    local = moment.astimezone(tz)
    return (local.second == 0 and local.microsecond == 0
            and (local.hour * 60 + local.minute) % granularity == 0)


def check_alignment(p: PolicyInput) -> Violation | None:
    """Start and end fall on the slot grid (hub time)."""
    g = p.equipment.slot_granularity
    tz = ZoneInfo(p.equipment.hub.timezone)
    if not (is_aligned(p.start, g, tz) and is_aligned(p.end, g, tz)):
        return MISALIGNED.violation(step=duration(g),
                                    tz=zone_label(p.equipment.hub.timezone, bracketed=True))
    return None


def check_min_duration(p: PolicyInput) -> Violation | None:
    minutes = (p.end - p.start) / timedelta(minutes=1)
    if minutes < p.equipment.min_duration:
        return TOO_SHORT.violation(d=duration(p.equipment.min_duration))
    return None


def check_max_duration(p: PolicyInput) -> Violation | None:
    minutes = (p.end - p.start) / timedelta(minutes=1)
    if minutes > p.equipment.max_duration:
        return TOO_LONG.violation(d=duration(p.equipment.max_duration))
    return None


def check_lead_time(p: PolicyInput) -> Violation | None:
    """Starts no sooner than now + lead time (and never in the past)."""
    earliest = p.now + timedelta(minutes=p.equipment.lead_time)
    if p.start < earliest:
        if p.equipment.lead_time:
            return LEAD_TIME.violation(d=duration(p.equipment.lead_time))
        return START_IN_PAST.violation()
    return None


def check_horizon(p: PolicyInput) -> Violation | None:
    latest = p.now + timedelta(days=p.equipment.booking_horizon)
    if p.start > latest:
        return TOO_FAR_AHEAD.violation(days=p.equipment.booking_horizon)
    return None


def check_opening_hours(p: PolicyInput) -> Violation | None:
    """The whole period lies inside the hub's opening hours (hub time zone)."""
    hub = p.equipment.hub
    spans = open_intervals(hub.opening_hours, hub.timezone, p.start, p.end)
    if not (len(spans) == 1 and spans[0] == (p.start, p.end)):
        return OUTSIDE_OPENING_HOURS.violation()
    return None


def check_maintenance(p: PolicyInput) -> Violation | None:
    if p.maintenance:
        return MAINTENANCE.violation()
    return None


def check_qualification(p: PolicyInput) -> Violation | None:
    """Where required, the trial lead holds an unexpired qualification."""
    if not p.equipment.qualification_required:
        return None
    if p.qualified is None:
        return TRIAL_LEAD_REQUIRED.violation()
    if not p.qualified:
        return QUALIFICATION_REQUIRED.violation()
    return None


def open_bookings_limit_reached(equipment: Equipment, open_bookings: int) -> bool:
    """An SME holding ``open_bookings`` active bookings of ``equipment`` may book no more
    (availability asks this too)."""
    limit = equipment.max_open_bookings_per_sme
    return limit is not None and open_bookings >= limit


def check_open_bookings_limit(p: PolicyInput) -> Violation | None:
    limit = p.equipment.max_open_bookings_per_sme
    if open_bookings_limit_reached(p.equipment, p.open_bookings):
        return OPEN_BOOKINGS_LIMIT.violation(limit=limit)
    return None


CHECKS: tuple[Callable[[PolicyInput], Violation | None], ...] = (
    check_equipment_status,
    check_organization_verified,
    check_alignment,
    check_min_duration,
    check_max_duration,
    check_lead_time,
    check_horizon,
    check_opening_hours,
    check_maintenance,
    check_qualification,
    check_open_bookings_limit,
)


def evaluate(p: PolicyInput) -> list[Violation]:
    """Every rule the request breaks (empty: the policy allows it)."""
    return [v for v in (check(p) for check in CHECKS) if v is not None]


def price_quote(equipment: Equipment, start: datetime, end: datetime) -> Decimal:
    """What booking [start, end) of ``equipment`` costs with no voucher, staff assistance or
    items: the total of ``pricing.services.quote_lines`` (the hub's rate card valid on the
    first day, else the equipment's hourly rate; rounded to the fen once per line). The
    one pricing rule: a booking's quote is priced by the same function."""
    from pricing.services import quote_lines

    lines = quote_lines(hub=equipment.hub, organization=None, periods=[(equipment, start, end)])
    return sum((line.amount for line in lines), Decimal("0.00"))


def late_cancellation_fee(*, price: Decimal, start: datetime, now: datetime) -> Decimal:
    """What the SME pays if it cancels now: the billing report's rule
    (``reports.selectors.LATE_CANCELLATION``/``LATE_CANCELLATION_SHARE``) for one booking,
    to the fen; 0 when it cancels early enough."""
    from .reports.selectors import LATE_CANCELLATION, LATE_CANCELLATION_SHARE

    if start - now >= LATE_CANCELLATION:
        return Decimal("0.00")
    return (price * LATE_CANCELLATION_SHARE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def late_cancellation_hours() -> int:
    from .reports.selectors import LATE_CANCELLATION

    return int(LATE_CANCELLATION / timedelta(hours=1))
