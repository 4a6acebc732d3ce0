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
from organizations.models import Organization

# Stable codes: clients and tests match on these.
EQUIPMENT_UNAVAILABLE = "equipment_unavailable"
ORGANIZATION_UNVERIFIED = "organization_unverified"
MISALIGNED = "misaligned"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
LEAD_TIME = "lead_time"
TOO_FAR_AHEAD = "too_far_ahead"
OUTSIDE_OPENING_HOURS = "outside_opening_hours"
MAINTENANCE = "maintenance"
QUALIFICATION_REQUIRED = "qualification_required"
TRIAL_LEAD_REQUIRED = "trial_lead_required"
OPEN_BOOKINGS_LIMIT = "open_bookings_limit"


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


def _fmt(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    return f"{hours} h" if hours else f"{mins} min"


def check_equipment_status(p: PolicyInput) -> Violation | None:
    """The equipment must be available (not down or retired)."""
    if p.equipment.status != Equipment.Status.AVAILABLE:
        return Violation(EQUIPMENT_UNAVAILABLE, "equipment",
                         f"This equipment is {p.equipment.get_status_display().lower()} "
                         "and cannot be booked.")
    return None


def check_organization_verified(p: PolicyInput) -> Violation | None:
    """Only SMEs verified by platform staff may book."""
    if not p.organization.verified:
        return Violation(ORGANIZATION_UNVERIFIED, "organization",
                         "Your organisation has not been verified yet; platform staff check new "
                         "organisations before they can book.")
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
        return Violation(MISALIGNED, "start",
                         f"Bookings start and end on {_fmt(g)} steps (e.g. :00, :{g % 60:02d}) "
                         "in the hub's time zone.")
    return None


def check_min_duration(p: PolicyInput) -> Violation | None:
    minutes = (p.end - p.start) / timedelta(minutes=1)
    if minutes < p.equipment.min_duration:
        return Violation(TOO_SHORT, "end",
                         f"A booking lasts at least {_fmt(p.equipment.min_duration)}.")
    return None


def check_max_duration(p: PolicyInput) -> Violation | None:
    minutes = (p.end - p.start) / timedelta(minutes=1)
    if minutes > p.equipment.max_duration:
        return Violation(TOO_LONG, "end",
                         f"A booking lasts at most {_fmt(p.equipment.max_duration)}.")
    return None


def check_lead_time(p: PolicyInput) -> Violation | None:
    """Starts no sooner than now + lead time (and never in the past)."""
    earliest = p.now + timedelta(minutes=p.equipment.lead_time)
    if p.start < earliest:
        if p.equipment.lead_time:
            msg = f"Book at least {_fmt(p.equipment.lead_time)} before the start."
        else:
            msg = "The start is in the past."
        return Violation(LEAD_TIME, "start", msg)
    return None


def check_horizon(p: PolicyInput) -> Violation | None:
    latest = p.now + timedelta(days=p.equipment.booking_horizon)
    if p.start > latest:
        return Violation(TOO_FAR_AHEAD, "start",
                         f"Bookings open {p.equipment.booking_horizon} days ahead at most.")
    return None


def check_opening_hours(p: PolicyInput) -> Violation | None:
    """The whole period lies inside the hub's opening hours (hub time zone)."""
    hub = p.equipment.hub
    spans = open_intervals(hub.opening_hours, hub.timezone, p.start, p.end)
    if not (len(spans) == 1 and spans[0] == (p.start, p.end)):
        return Violation(OUTSIDE_OPENING_HOURS, "start",
                         "The hub is closed during part of this period; see its opening hours.")
    return None


def check_maintenance(p: PolicyInput) -> Violation | None:
    if p.maintenance:
        s, e = min(p.maintenance)
        return Violation(MAINTENANCE, "start",
                         f"The equipment is under maintenance from {s.isoformat()} "
                         f"to {e.isoformat()}.")
    return None


def check_qualification(p: PolicyInput) -> Violation | None:
    """Where required, the trial lead holds an unexpired qualification."""
    if not p.equipment.qualification_required:
        return None
    if p.qualified is None:
        return Violation(TRIAL_LEAD_REQUIRED, "trial_lead",
                         "This equipment needs a qualified operator: name the trial lead "
                         "(an SME member's e-mail).")
    if not p.qualified:
        return Violation(QUALIFICATION_REQUIRED, "trial_lead",
                         "The trial lead holds no valid qualification for this equipment.")
    return None


def open_bookings_limit_reached(equipment: Equipment, open_bookings: int) -> bool:
    """An SME holding ``open_bookings`` active bookings of ``equipment`` may book no more
    (availability asks this too)."""
    limit = equipment.max_open_bookings_per_sme
    return limit is not None and open_bookings >= limit


def check_open_bookings_limit(p: PolicyInput) -> Violation | None:
    limit = p.equipment.max_open_bookings_per_sme
    if open_bookings_limit_reached(p.equipment, p.open_bookings):
        return Violation(OPEN_BOOKINGS_LIMIT, "equipment",
                         f"Your organisation already holds {p.open_bookings} open booking(s) on "
                         f"this equipment; the limit is {limit}.")
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
    """Duration in hours × the hourly rate, to the fen."""
    hours = Decimal((end - start) // timedelta(seconds=1)) / Decimal(3600)
    return (hours * equipment.hourly_rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
