"""Writes to the catalog. Each is a use case that checks who may do it.

Who acts: an API or portal caller acts for its organisation (``by``), which must operate
the hub concerned. Platform staff act with no organisation (``by=None``) and name
themselves with ``staff_user`` (the admin console does this); only an active staff user
passes that door, so an API caller (which has no staff user to give) keeps the operator
checks.

The equipment row lock (:func:`lock_equipment`) is the one lock behind invariant 1 and
the maintenance guarantee: every use case that reads or changes what it protects (booking
creation and transitions, maintenance windows, status changes) takes it first.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import db
from core.errors import full_clean
from organizations.errors import NOT_OPERATOR
from organizations.models import Organization

from . import errors
from .models import Equipment, Hub, MaintenanceWindow, Qualification
from .signals import equipment_unavailable

FAR_FUTURE_DAYS = 3650


# --- the equipment lock ------------------------------------------------------------------

@cache
def _lock_sql(vendor: str, for_update: bool) -> str:
    bounded = db.lock_timeout_clause(vendor)
    return (f"SELECT {db.columns(Equipment, 'e')}, {db.columns(Hub, 'h')} "  # noqa: S608 - constants and model metadata only
            f"FROM {db.table(Equipment)} e JOIN {db.table(Hub)} h "
            f"ON {db.column(Hub, 'id', 'h')} = {db.column(Equipment, 'hub', 'e')} "
            f"WHERE {db.column(Equipment, 'id', 'e')} = %s" + (f" AND {bounded}" if bounded else "")
            + (" FOR UPDATE OF e" if for_update else ""))


def lock_equipment(equipment_id: int, *, timeout_ms: int | None = None) -> Equipment | None:
    """The equipment (with its hub) as committed, its row locked until the transaction
    ends; None if there is no such equipment. Waits at most ``timeout_ms`` (default
    ``settings.DB_LOCK_TIMEOUT_MS``) for the lock, then raises ``core.errors.Busy``; the
    bound is set for this transaction by the locking statement itself (no extra round
    trip), never connection-wide.

    Caller holds a transaction. Take this lock before any booking row lock of the same
    equipment (one order everywhere, so no deadlock). Written in plain SQL: booking
    creation, the API's busiest write, runs it on every call."""
    vendor = connection.vendor
    sql = _lock_sql(vendor, connection.features.has_select_for_update_of)
    params = [equipment_id]
    if db.lock_timeout_clause(vendor):
        params.append(db.lock_timeout_param(timeout_ms))
    busy = _("The equipment is busy with other changes; retry in a moment.")
    with db.busy_on_lock_timeout(busy), connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    equipment = db.instance(Equipment, row)
    equipment.hub = db.instance(Hub, row, db.width(Equipment))
    return equipment


# --- who may change the catalog ----------------------------------------------------------

def _require_operator(organization: Organization | None) -> None:
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        raise NOT_OPERATOR.error()


def _require_staff(staff_user) -> None:
    if not (getattr(staff_user, "is_active", False) and getattr(staff_user, "is_staff", False)):
        raise errors.NOT_STAFF.error()


def _require_hub_operator(hub: Hub, *, by: Organization | None, staff_user) -> None:
    """``by`` operates ``hub`` — or, with no organisation, ``staff_user`` is platform staff."""
    if by is None and staff_user is not None:
        _require_staff(staff_user)
        return
    _require_operator(by)
    if hub.operator_id != by.pk:
        raise errors.NOT_HUB_OPERATOR.error()


def _cancelled(responses) -> list:
    """The bookings the ``equipment_unavailable`` listeners say they cancelled."""
    return [booking for _receiver, answer in responses for booking in (answer or [])]


# --- hubs --------------------------------------------------------------------------------

def create_hub(*, operator: Organization, data: dict[str, Any]) -> Hub:
    _require_operator(operator)
    hub = Hub(operator=operator, **data)
    full_clean(hub)
    hub.save()
    return hub


def update_hub(*, hub: Hub, by: Organization, data: dict[str, Any]) -> Hub:
    _require_operator(by)
    for key, value in data.items():
        setattr(hub, key, value)
    full_clean(hub)
    hub.save()
    return hub


# --- equipment ---------------------------------------------------------------------------

def create_equipment(*, hub: Hub, by: Organization | None, data: dict[str, Any],
                     capabilities=None, staff_user=None) -> Equipment:
    _require_hub_operator(hub, by=by, staff_user=staff_user)
    equipment = Equipment(hub=hub, **data)
    full_clean(equipment)
    with transaction.atomic():
        equipment.save()
        if capabilities is not None:
            equipment.capabilities.set(capabilities)
    return equipment


def unavailability_period(now: datetime) -> tuple[datetime, datetime]:
    """The period a status change to down or retired blocks: from now on."""
    return now, now + timezone.timedelta(days=FAR_FUTURE_DAYS)


# Reasons are recorded data (history, e-mails in both languages, webhooks), kept in one
# language whatever the actor's, as every recorded reason is.
def unavailable_reason(status: str) -> str:
    """The reason recorded on the bookings a status change cancels."""
    return f"Equipment is {Equipment.Status(status).value}."


def update_equipment(*, equipment: Equipment, by: Organization | None, data: dict[str, Any],
                     capabilities=None, by_user=None, staff_user=None,
                     lock_timeout_ms: int | None = None) -> Equipment:
    """Change equipment the caller operates (or, as platform staff, any equipment).

    ``data`` (model field → value) is applied to the row as read under the equipment
    lock, and only its fields are written: ``equipment`` is the caller's copy, possibly
    read before a concurrent change committed (a status change, say), and none of its
    other values are written back. Returns the equipment as saved (a new instance).

    Equipment moves only between hubs of its own operator. Taking it down or retiring it
    cancels the requested and confirmed bookings from now on (through the
    ``equipment_unavailable`` signal), under the equipment lock, so no booking slips in
    between. A trial already checked in is not cancelled: taking equipment down during a
    running trial is a legitimate emergency, and the operator completes the trial. The
    returned equipment carries ``cancelled_bookings``: the ids of the bookings this
    change cancelled."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    with transaction.atomic():
        current = lock_equipment(equipment.pk, timeout_ms=lock_timeout_ms)
        if current is None:
            raise errors.EQUIPMENT_NOT_FOUND.error()
        # Again on the row as locked (its hub may have moved since the caller read it).
        _require_hub_operator(current.hub, by=by, staff_user=staff_user)
        new_hub = data.get("hub")
        if new_hub is not None and new_hub.pk != current.hub_id \
                and new_hub.operator_id != current.hub.operator_id:
            raise errors.HUB_NOT_FOUND.error()
        was = current.status
        fields = {Equipment._meta.get_field(key).name for key in data}
        for key, value in data.items():
            setattr(current, key, value)
        full_clean(current)
        current.save(update_fields=sorted(fields | {"updated"}))
        if capabilities is not None:
            current.capabilities.set(capabilities)
        cancelled = []
        if was == Equipment.Status.AVAILABLE and current.status != Equipment.Status.AVAILABLE:
            start, end = unavailability_period(timezone.now())
            cancelled = _cancelled(equipment_unavailable.send(
                sender=Equipment, equipment=current, start=start, end=end,
                reason=unavailable_reason(current.status), by=by_user or staff_user))
    current.cancelled_bookings = [b.pk for b in cancelled]
    return current


# --- maintenance -------------------------------------------------------------------------

def maintenance_reason(reason: str) -> str:
    """The reason recorded on the bookings a maintenance window cancels."""
    return f"Maintenance: {reason}"


def create_maintenance_window(*, equipment: Equipment, by: Organization | None, start, end,
                              reason: str, by_user=None, staff_user=None,
                              lock_timeout_ms: int | None = None) -> MaintenanceWindow:
    """Block the equipment for maintenance; the requested and confirmed bookings that
    overlap are cancelled, each with the reason recorded (and so notified). Taken under
    the equipment lock: a booking being created at the same moment either commits first
    (and is cancelled here) or sees the window (and is refused). The returned window
    carries ``cancelled_bookings``: the ids of the bookings it cancelled.

    A window over a trial in progress (a checked-in booking) is refused, whichever door:
    Conflict (409) ``maintenance_overlaps_trial_in_progress``, naming the booking."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    window = MaintenanceWindow(equipment=equipment, start=start, end=end, reason=reason,
                               created_by=by_user or staff_user)
    full_clean(window)
    with transaction.atomic():
        if lock_equipment(equipment.pk, timeout_ms=lock_timeout_ms) is None:
            raise errors.EQUIPMENT_NOT_FOUND.error()
        window.save()
        cancelled = _cancelled(equipment_unavailable.send(
            sender=Equipment, equipment=equipment, start=start, end=end,
            reason=maintenance_reason(reason), by=by_user or staff_user,
            refuse_in_progress=True))
    window.cancelled_bookings = [b.pk for b in cancelled]
    return window


def delete_maintenance_window(*, window: MaintenanceWindow, by: Organization | None,
                              staff_user=None, lock_timeout_ms: int | None = None) -> None:
    """Remove a maintenance window (the period becomes bookable again). Under the
    equipment lock, like every change to what bookings are checked against."""
    _require_hub_operator(window.equipment.hub, by=by, staff_user=staff_user)
    with transaction.atomic():
        lock_equipment(window.equipment_id, timeout_ms=lock_timeout_ms)
        window.delete()


# --- qualifications ----------------------------------------------------------------------

QUALIFICATION_FIELDS = ("user", "equipment", "category", "expires")


def grant_qualification(*, user, equipment: Equipment | None = None, category=None,
                        expires: datetime | None = None, by: Organization | None,
                        staff_user=None, granted_by=None) -> Qualification:
    """``user`` may run trials on ``equipment`` (or any equipment of ``category``) until
    ``expires``. An operator grants on equipment of its own hubs; only platform staff
    grant a whole category (it spans every hub)."""
    if equipment is not None:
        _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    else:
        _require_staff(staff_user)
    qualification = Qualification(user=user, equipment=equipment, category=category,
                                  expires=expires, granted_by=granted_by or staff_user)
    full_clean(qualification)
    qualification.save()
    return qualification


def update_qualification(*, qualification: Qualification, data: dict[str, Any],
                         by: Organization | None, staff_user=None) -> Qualification:
    """Change whom or what a qualification covers, or its expiry (``data`` keys among
    ``QUALIFICATION_FIELDS``); the same rules as granting, for the old and new scope."""
    scopes = [qualification.equipment]
    for key, value in data.items():
        if key not in QUALIFICATION_FIELDS:
            raise errors.NOT_EDITABLE.error(field=key)
        setattr(qualification, key, value)
    scopes.append(qualification.equipment)
    for equipment in scopes:
        if equipment is None:
            _require_staff(staff_user)
        else:
            _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    full_clean(qualification)
    qualification.save()
    return qualification
