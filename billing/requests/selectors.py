"""Reads of service requests. Every read takes the acting organisation: an SME sees its
own requests, an operator those at the hubs it runs, anyone else none (404)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from billing.models import ServiceRequest
from equipment.models import Equipment, Hub
from organizations.models import Organization
from pricing.models import QuoteLine
from pricing.selectors import one_visible, visible_to_parties

from .errors import REQUEST_NOT_FOUND


def requests_visible_to(organization: Organization | None) -> QuerySet[ServiceRequest]:
    qs = (ServiceRequest.objects.select_related("hub", "hub__operator", "organization",
                                                "offer", "requested_by")
          .prefetch_related(Prefetch("equipment", Equipment.objects.order_by("name", "pk"))))
    return visible_to_parties(qs, organization)


def request_for(organization: Organization | None, request_id) -> ServiceRequest:
    """The request if ``organization`` may see it; NotFound otherwise (invariant 2)."""
    return one_visible(requests_visible_to(organization), request_id, REQUEST_NOT_FOUND)


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


def usable_grants(organization: Organization | None):
    """The SME's voucher grants it may choose when accepting (not revoked, not ended);
    whether one applies to a given offer is the pricing service's decision."""
    from django.utils import timezone

    from pricing.selectors import grants_visible_to

    return (grants_visible_to(organization).filter(revoked_at__isnull=True,
                                                   valid_until__gte=timezone.localdate())
            .select_related("programme").order_by("valid_until", "pk"))


def voucher_preview(service_request: ServiceRequest, grant) -> dict:
    """What ``grant`` would pay of the open offer, piece by piece, as the bookings would
    split it (``pricing.services``: the grant's rules, what its caps still allow, the
    per-line split): ``{"refusal": message or "", "lines": [(line, voucher, sme)],
    "voucher": total, "sme": total}``. A preview: the bookings decide under the grant lock."""
    from decimal import Decimal

    from pricing import services as pricing_services

    from .services import pieces

    result = {"refusal": "", "lines": [], "voucher": Decimal("0.00"), "sme": Decimal("0.00")}
    offer = service_request.offer
    if offer is None:
        return result
    planned = pieces(offer)
    refusal = pricing_services.grant_refusal(
        grant, organization=service_request.organization, hub=service_request.hub,
        equipment=[p.equipment for p in planned], start=min(p.start for p in planned))
    if refusal is not None:
        result["refusal"] = refusal.message
        return result
    taken = Decimal("0.00")
    for piece in planned:
        drafts = [pricing_services.LineDraft.of(line) for line in piece.lines]
        room = pricing_services.voucher_room(grant, organization=service_request.organization,
                                             hub=service_request.hub, start=piece.start)
        room = max(min(room, grant.remaining - taken), Decimal("0.00"))
        voucher, _wanted = pricing_services.apply_split(
            drafts, share=grant.programme.subsidy_share, room=room)
        taken += voucher
        for line, draft in zip(piece.lines, drafts, strict=True):
            result["lines"].append((line, draft.voucher_share, draft.sme_share))
    result["lines"].sort(key=lambda row: row[0].position)
    result["voucher"] = sum((v for _l, v, _s in result["lines"]), Decimal("0.00"))
    result["sme"] = sum((s for _l, _v, s in result["lines"]), Decimal("0.00"))
    return result


def booked_split(service_request: ServiceRequest) -> dict:
    """The bookings made from the request's accepted offer, each with what it charges now
    split into voucher and own shares (``pricing.selectors.charged_lines``, the one rule),
    and their sums: ``{"rows": [{"booking", "money"}], "total", "voucher_total",
    "sme_total"}`` (no rows: nothing booked)."""
    from pricing.selectors import ZERO, charged_lines, charged_totals

    bookings = (service_request.bookings.select_related("equipment", "quote")
                .prefetch_related(Prefetch("quote__lines",
                                           QuoteLine.objects.order_by("position")))
                .order_by("start", "pk"))
    rows = []
    for booking in bookings:
        money = (charged_totals(charged_lines(booking.quote, booking.status))
                 if booking.quote_id else None)
        rows.append({"booking": booking, "money": money})
    priced = [row["money"] for row in rows if row["money"] is not None]
    return {"rows": rows,
            "total": sum((m.total for m in priced), ZERO),
            "voucher_total": sum((m.voucher_total for m in priced), ZERO),
            "sme_total": sum((m.sme_total for m in priced), ZERO),
            "returned": sum((m.returned for m in priced), ZERO)}
