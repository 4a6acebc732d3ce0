"""Reads of pricing. Every read of tenant data takes the acting organisation: an SME sees
its own quotes and voucher grants; an operator the quotes at the hubs it runs; others
nothing (another organisation's quote or grant is 'not found')."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext

from core.errors import valid_id
from equipment.models import Hub
from organizations.models import Organization

from .errors import QUOTE_NOT_FOUND, VOUCHER_NOT_FOUND
from .models import (
    Affiliation,
    EquipmentRate,
    PricedItem,
    Quote,
    QuoteLine,
    RateCard,
    VoucherGrant,
)

ZERO = Decimal("0.00")


def visible_to_parties(qs: QuerySet, organization: Organization | None, *,
                       sme: str = "organization", operator: str = "hub__operator") -> QuerySet:
    """``qs`` narrowed to what ``organization`` is a party to: an SME's own rows (field
    ``sme``), an operator's at the hubs it runs (field ``operator``), anyone else none. The
    one tenancy rule of quotes and service requests (invariant 2)."""
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(**{sme: organization})
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(**{operator: organization})
    return qs.none()


def one_visible(qs: QuerySet, raw_id, not_found):
    """The row of ``qs`` (already narrowed to the actor) with id ``raw_id``; ``not_found``
    (a catalogue error) raised when the id is not a valid id or not among them."""
    pk = valid_id(raw_id)
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise not_found.error()
    return found


def quotes_visible_to(organization: Organization | None) -> QuerySet[Quote]:
    """An SME's own quotes; an operator's, those at its hubs; anyone else's: none. Lines
    come prefetched in position order with their equipment and item."""
    lines = QuoteLine.objects.select_related("equipment", "item").order_by("position")
    qs = (Quote.objects.select_related("hub", "organization", "grant", "grant__programme",
                                       "booking")
          .prefetch_related(Prefetch("lines", queryset=lines)))
    return visible_to_parties(qs, organization)


def quote_for(organization: Organization | None, quote_id) -> Quote:
    return one_visible(quotes_visible_to(organization), quote_id, QUOTE_NOT_FOUND)


def grants_visible_to(organization: Organization | None) -> QuerySet[VoucherGrant]:
    """An SME's own voucher grants (with their programme); anyone else's: none."""
    qs = VoucherGrant.objects.select_related("programme", "organization")
    if organization is None or organization.kind != Organization.Kind.SME:
        return qs.none()
    return qs.filter(organization=organization)


def grant_for(organization: Organization | None, grant_id) -> VoucherGrant:
    return one_visible(grants_visible_to(organization), grant_id, VOUCHER_NOT_FOUND)


def describe_line(line: QuoteLine) -> str:
    """What a quote line is, in the active language: the equipment's time, its staff
    assistance or set-up, the item's name, or the late-cancellation fee."""
    if line.kind == QuoteLine.Kind.ITEM and line.item_id:
        return str(line.item.name)
    label = str(QuoteLine.Kind(line.kind).label)
    if line.equipment_id:
        return gettext("%(equipment)s: %(what)s") % {"equipment": line.equipment.name,
                                                      "what": label}
    return label


def hub_day(hub: Hub, moment: datetime) -> date:
    """The calendar day of ``moment`` in the hub's time zone."""
    return moment.astimezone(ZoneInfo(hub.timezone)).date()


def rate_card_on(hub: Hub, day: date) -> RateCard | None:
    """The hub's rate card valid on ``day`` (the latest one started by then and not ended
    before it), with its rates and items; None: the hub has no card that day."""
    return (RateCard.objects.filter(hub=hub, valid_from__lte=day)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
            .prefetch_related("rates", "items").order_by("-valid_from").first())


def _card_on(hub: Hub, day: date) -> Subquery:
    return Subquery(RateCard.objects.filter(hub=hub, valid_from__lte=day)
                    .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
                    .order_by("-valid_from").values("pk")[:1])


def rates_on(hub: Hub, day: date, equipment_ids: list[int]) -> dict[int, EquipmentRate]:
    """Equipment id → its rate on the hub's card valid on ``day`` (one query; equipment
    the card does not list, or no card: absent)."""
    return {r.equipment_id: r for r in EquipmentRate.objects.filter(
        card_id=_card_on(hub, day), equipment_id__in=equipment_ids)}


def items_on(hub: Hub, day: date, codes: list[str]) -> dict[str, PricedItem]:
    """Code → the priced item of that code on the hub's card valid on ``day``."""
    return {i.code: i for i in PricedItem.objects.filter(card_id=_card_on(hub, day),
                                                         code__in=codes)}


def affiliated(organization: Organization, other_id: int, *, at: datetime | None = None) -> bool:
    """Is there a current declared affiliation (either direction) between the two?"""
    return Affiliation.objects.filter(
        Q(organization=organization, affiliate_id=other_id)
        | Q(organization_id=other_id, affiliate=organization),
        ended_at__isnull=True).exists()


def voucher_used_in_year(*, programme_id: int, organization: Organization, year: int,
                         tz_name: str, exclude_quote_id: int | None = None) -> Decimal:
    """The voucher share of the SME's booked booking quotes under any grant of the
    programme whose period starts in calendar ``year`` (in ``tz_name``): what counts
    against the programme's cap per firm per year."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(date(year, 1, 1), time(), tzinfo=tz)
    end = datetime.combine(date(year + 1, 1, 1), time(), tzinfo=tz)
    qs = Quote.objects.filter(kind=Quote.Kind.BOOKING, status=Quote.Status.BOOKED,
                              grant__programme_id=programme_id,
                              grant__organization=organization, start__gte=start,
                              start__lt=end)
    if exclude_quote_id is not None:
        qs = qs.exclude(pk=exclude_quote_id)
    return qs.aggregate(s=Sum("voucher_total"))["s"] or ZERO
