"""Reads of service requests. Every read takes the acting organisation: an SME sees its
own requests, an operator those at the hubs it runs, anyone else none (404)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from billing.models import ServiceRequest
from core.errors import valid_id
from equipment.models import Equipment, Hub
from organizations.models import Organization
from pricing.models import QuoteLine

from .errors import REQUEST_NOT_FOUND


def requests_visible_to(organization: Organization | None) -> QuerySet[ServiceRequest]:
    qs = (ServiceRequest.objects.select_related("hub", "hub__operator", "organization",
                                                "offer", "requested_by")
          .prefetch_related(Prefetch("equipment", Equipment.objects.order_by("name", "pk"))))
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(hub__operator=organization)
    return qs.none()


def request_for(organization: Organization | None, request_id) -> ServiceRequest:
    """The request if ``organization`` may see it; NotFound otherwise (invariant 2)."""
    pk = valid_id(request_id)
    found = requests_visible_to(organization).filter(pk=pk).first() if pk else None
    if found is None:
        raise REQUEST_NOT_FOUND.error()
    return found


def roles(service_request: ServiceRequest, organization: Organization | None) -> set[str]:
    """``owner`` (the SME that asked) and/or ``operator`` (the hub's operator)."""
    found = set()
    if organization is None:
        return found
    if service_request.organization_id == organization.pk:
        found.add("owner")
    if service_request.hub.operator_id == organization.pk:
        found.add("operator")
    return found


def offer_lines(service_request: ServiceRequest) -> list[QuoteLine]:
    """The offer's lines in position order (none without an offer)."""
    if service_request.offer_id is None:
        return []
    return list(service_request.offer.lines.select_related("equipment", "item")
                .order_by("position"))


def requestable_equipment(hub: Hub) -> QuerySet[Equipment]:
    """What an SME may ask for at ``hub``: everything not retired."""
    return (Equipment.objects.filter(hub=hub).exclude(status=Equipment.Status.RETIRED)
            .order_by("name", "pk"))


def hubs_for_requests() -> QuerySet[Hub]:
    return Hub.objects.select_related("operator").order_by("name", "pk")
