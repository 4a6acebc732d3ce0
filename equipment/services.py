"""Writes to the catalog. Each is a use case that checks who may do it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Forbidden, ValidationFailed, Violation
from organizations.models import Organization

from .models import Equipment, Hub, MaintenanceWindow
from .signals import equipment_unavailable

FAR_FUTURE_DAYS = 3650


def _require_operator(organization: Organization | None) -> None:
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        raise Forbidden("Only a hub operator (flagship firm) may change the catalog.",
                        code="not_operator")


def _full_clean(instance, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        raise ValidationFailed([
            Violation(e.code or "invalid", field, str(message))
            for field, errors in exc.error_dict.items()
            for e in errors for message in e.messages
        ]) from None


def create_hub(*, operator: Organization, data: dict[str, Any]) -> Hub:
    _require_operator(operator)
    hub = Hub(operator=operator, **data)
    _full_clean(hub)
    hub.save()
    return hub


def update_hub(*, hub: Hub, by: Organization, data: dict[str, Any]) -> Hub:
    _require_operator(by)
    for key, value in data.items():
        setattr(hub, key, value)
    _full_clean(hub)
    hub.save()
    return hub


def create_equipment(*, hub: Hub, by: Organization, data: dict[str, Any],
                     capabilities=None) -> Equipment:
    _require_operator(by)
    if hub.operator_id != by.pk:
        raise Forbidden("You may add equipment only to hubs you operate.", code="not_hub_operator")
    equipment = Equipment(hub=hub, **data)
    _full_clean(equipment)
    with transaction.atomic():
        equipment.save()
        if capabilities is not None:
            equipment.capabilities.set(capabilities)
    return equipment


def update_equipment(*, equipment: Equipment, by: Organization, data: dict[str, Any],
                     capabilities=None, by_user=None) -> Equipment:
    """Change equipment the caller operates. Taking it down or retiring it cancels the
    active bookings from now on (through the ``equipment_unavailable`` signal)."""
    _require_operator(by)
    if equipment.hub.operator_id != by.pk:
        raise Forbidden("You may change only equipment in hubs you operate.",
                        code="not_hub_operator")
    was_available = equipment.status == Equipment.Status.AVAILABLE
    for key, value in data.items():
        setattr(equipment, key, value)
    _full_clean(equipment)
    with transaction.atomic():
        equipment.save()
        if capabilities is not None:
            equipment.capabilities.set(capabilities)
        if was_available and equipment.status != Equipment.Status.AVAILABLE:
            now = timezone.now()
            equipment_unavailable.send(
                sender=Equipment, equipment=equipment, start=now,
                end=now + timezone.timedelta(days=FAR_FUTURE_DAYS),
                reason=f"Equipment is {equipment.get_status_display().lower()}.", by=by_user)
    return equipment


def create_maintenance_window(*, equipment: Equipment, by: Organization, start, end,
                              reason: str, by_user=None) -> MaintenanceWindow:
    """Block the equipment for maintenance; active bookings that overlap are cancelled."""
    _require_operator(by)
    if equipment.hub.operator_id != by.pk:
        raise Forbidden("You may plan maintenance only on equipment you operate.",
                        code="not_hub_operator")
    window = MaintenanceWindow(equipment=equipment, start=start, end=end, reason=reason,
                               created_by=by_user)
    _full_clean(window)
    with transaction.atomic():
        window.save()
        equipment_unavailable.send(sender=Equipment, equipment=equipment, start=start, end=end,
                                   reason=f"Maintenance: {reason}", by=by_user)
    return window


def delete_maintenance_window(*, window: MaintenanceWindow, by: Organization) -> None:
    _require_operator(by)
    if window.equipment.hub.operator_id != by.pk:
        raise Forbidden("You may remove maintenance only on equipment you operate.",
                        code="not_hub_operator")
    window.delete()
