"""Reads of the catalog. The catalog (hubs, equipment) is visible to every authenticated
organisation; what an organisation may change is narrowed by ``operated_by``."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from organizations.models import Organization

from .models import Equipment, Hub, MaintenanceWindow


def hub_list() -> QuerySet[Hub]:
    return Hub.objects.select_related("operator")


def hubs_operated_by(organization: Organization | None) -> QuerySet[Hub]:
    return hub_list().filter(operator=organization)


def equipment_list() -> QuerySet[Equipment]:
    return (Equipment.objects.select_related("hub", "hub__operator", "category")
            .prefetch_related("capabilities"))


def equipment_operated_by(organization: Organization | None) -> QuerySet[Equipment]:
    """Equipment whose hub ``organization`` operates; anything else is 'not found' to it."""
    return equipment_list().filter(hub__operator=organization)


def search_equipment(qs: QuerySet[Equipment], text: str) -> QuerySet[Equipment]:
    for word in text.split():
        qs = qs.filter(Q(name__icontains=word) | Q(description__icontains=word)
                       | Q(category__name__icontains=word) | Q(hub__name__icontains=word)
                       | Q(capabilities__name__icontains=word))
    return qs.distinct()


def maintenance_windows_for_operator(
        organization: Organization | None) -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.select_related("equipment", "equipment__hub").filter(
        equipment__hub__operator=organization)
