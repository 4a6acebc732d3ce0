"""Reads of settlement claims. Every read takes the acting organisation: a hub operator
sees the claims it made as provider and the programmes that accredit its hubs; SMEs and
universities see no claim (another organisation's claim is 'not found')."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, Prefetch, Q, QuerySet

from bookings.models import Booking
from bookings.reports.selectors import month_bounds
from core.errors import valid_id
from equipment.models import Hub
from organizations.models import Organization
from pricing.models import Quote, VoucherProgramme

from ..models import ClaimLine, SettlementClaim
from .errors import CLAIM_NOT_FOUND

S = SettlementClaim.Status


def _is_operator(organization: Organization | None) -> bool:
    return organization is not None and organization.kind == Organization.Kind.FLAGSHIP


def claim_lines() -> QuerySet[ClaimLine]:
    """Claim lines with what a page, a file or the API shows of them, in booking order."""
    return (ClaimLine.objects
            .select_related("booking", "booking__organization", "booking__equipment",
                            "booking__equipment__hub", "grant")
            .order_by("booking__start", "booking_id"))


def claims_visible_to(organization: Organization | None) -> QuerySet[SettlementClaim]:
    """The claims ``organization`` made as provider (an operator); none for anyone else."""
    qs = SettlementClaim.objects.select_related("programme", "provider", "created_by")
    if not _is_operator(organization):
        return qs.none()
    return qs.filter(provider=organization)


def claim_for(organization: Organization | None, claim_id) -> SettlementClaim:
    """One of ``organization``'s claims, its lines prefetched; 'not found' otherwise."""
    pk = valid_id(claim_id)
    claim = (claims_visible_to(organization)
             .prefetch_related(Prefetch("lines", queryset=claim_lines()))
             .annotate(line_count=Count("lines")).filter(pk=pk).first() if pk else None)
    if claim is None:
        raise CLAIM_NOT_FOUND.error()
    return claim


def programmes_for_provider(organization: Organization | None) -> QuerySet[VoucherProgramme]:
    """The voucher programmes that accredit one of the operator's hubs (what it may claim
    from), by validity then reference; none for anyone who runs no hub."""
    if not _is_operator(organization):
        return VoucherProgramme.objects.none()
    ids = VoucherProgramme.providers.through.objects.filter(
        hub__operator=organization).values("voucherprogramme_id")
    return VoucherProgramme.objects.filter(pk__in=ids).order_by("-valid_from", "reference")


def first_month_day(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def month_in_hubs(hubs, month: date) -> Q:
    """Bookings starting in ``month`` in their own hub's time zone: one period per zone."""
    zones: dict[str, list[int]] = {}
    for hub in hubs:
        zones.setdefault(hub.timezone, []).append(hub.pk)
    condition = Q(pk__in=[])
    for tz_name, hub_ids in zones.items():
        start, end = month_bounds(month, tz_name)
        condition |= Q(equipment__hub_id__in=hub_ids, start__gte=start, start__lt=end)
    return condition


def eligible_bookings(*, provider: Organization, programme: VoucherProgramme, month: date,
                      claim: SettlementClaim | None = None) -> QuerySet[Booking]:
    """What a claim of ``provider`` on ``programme`` for ``month`` collects: completed
    bookings starting in the month (each hub's time zone) at the provider's hubs whose
    booking quote is booked with a grant of the programme and a voucher share above zero,
    and that no other claim holds (``claim``'s own lines are collected again)."""
    hubs = list(Hub.objects.filter(operator=provider).only("pk", "timezone"))
    others = ClaimLine.objects.all()
    if claim is not None and claim.pk:
        others = others.exclude(claim=claim)
    return (Booking.objects
            .filter(month_in_hubs(hubs, month), status=Booking.Status.COMPLETED,
                    quote__kind=Quote.Kind.BOOKING, quote__status=Quote.Status.BOOKED,
                    quote__grant__programme=programme, quote__voucher_total__gt=0)
            .exclude(pk__in=others.values("booking_id"))
            .select_related("quote", "quote__grant")
            .order_by("start", "pk"))


def local(moment: datetime | None, tz_name: str) -> datetime | None:
    return moment.astimezone(ZoneInfo(tz_name)) if moment else None
