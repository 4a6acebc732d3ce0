"""Reads of pricing. Every read of tenant data takes the acting organisation: an SME sees
its own quotes and voucher grants; an operator the quotes at the hubs it runs; others
nothing (another organisation's quote or grant is 'not found')."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext

from core import db
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
    come prefetched in position order with their equipment and item, and the booking
    quotes made from each (``booking_copies``, with their bookings and lines)."""
    lines = QuoteLine.objects.select_related("equipment", "item").order_by("position")
    copies = (Quote.objects.filter(kind=Quote.Kind.BOOKING)
              .select_related("booking", "booking__equipment")
              .prefetch_related(Prefetch("lines", queryset=lines)).order_by("start", "pk"))
    qs = (Quote.objects.select_related("hub", "organization", "grant", "grant__programme",
                                       "booking")
          .prefetch_related(Prefetch("lines", queryset=lines),
                            Prefetch("copies", queryset=copies, to_attr="booking_copies")))
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


@cache
def _rates_sql(vendor: str, count: int) -> str:
    """The rates of ``count`` equipment on the card ``_card_on`` picks (the latest one
    started by the day and not ended before it), in plain SQL from the models' metadata."""
    card, rate = functools.partial(db.column, RateCard), functools.partial(db.column, EquipmentRate)
    marks = ", ".join(["%s"] * count)
    return (f"SELECT {db.columns(EquipmentRate, 'r')} FROM {db.table(EquipmentRate)} r "  # noqa: S608 - constants and model metadata only
            f"WHERE {rate('card', 'r')} = (SELECT {card('id', 'c')} FROM {db.table(RateCard)} c "
            f"WHERE {card('hub', 'c')} = %s AND {card('valid_from', 'c')} <= %s "
            f"AND ({card('valid_until', 'c')} IS NULL OR {card('valid_until', 'c')} >= %s) "
            f"ORDER BY {card('valid_from', 'c')} DESC LIMIT 1) "
            f"AND {rate('equipment', 'r')} IN ({marks})")


def rates_on(hub: Hub, day: date, equipment_ids: list[int]) -> dict[int, EquipmentRate]:
    """Equipment id → its rate on the hub's card valid on ``day`` (one query; equipment
    the card does not list, or no card: absent). Written out (``core.db``): every booking
    creation prices itself with it, and compiling the ORM's subquery cost several times
    running it (tests/pricing/test_rates_sql.py holds it equal to the ORM's answer)."""
    ids = list(dict.fromkeys(equipment_ids))
    if not ids:
        return {}
    when = connection.ops.adapt_datefield_value(day)
    with db.cursor() as cursor:
        cursor.execute(_rates_sql(connection.vendor, len(ids)), [hub.pk, when, when, *ids])
        rows = cursor.fetchall()
    rates = (db.instance(EquipmentRate, row) for row in rows)
    return {r.equipment_id: r for r in rates}


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


# --- what a booking's quote charges -----------------------------------------------------

# Booking statuses as strings (pricing never imports bookings; ``Booking.Status`` values).
CARRIED_OUT = ("confirmed", "checked_in", "completed")
NO_SHOW, CANCELLED, REQUESTED = "no_show", "cancelled", "requested"


@dataclass(frozen=True)
class ChargedLine:
    """One quote line and what it charges now. ``state``:

    - ``charged``: owed (a statement carries it), ``voucher_share + sme_share == amount``;
    - ``pending``: the booking still waits for the operator: owed once confirmed, as split;
    - ``quoted``: an estimate's or offer's line: a price, not a charge;
    - ``not_charged``: nothing owed (shares zero); ``returned`` is the voucher share given
      back to the grant when the booking was released.
    """

    line: QuoteLine
    state: str
    amount: Decimal
    voucher_share: Decimal
    sme_share: Decimal
    returned: Decimal = ZERO

    @property
    def charged(self) -> bool:
        return self.state == "charged"

    @property
    def counts(self) -> bool:
        """Whether the line is in what the reader owes (or will owe)."""
        return self.state != "not_charged"


def _as(line: QuoteLine, state: str, *, all_sme: bool = False) -> ChargedLine:
    voucher = ZERO if all_sme else line.voucher_share
    return ChargedLine(line=line, state=state, amount=line.amount, voucher_share=voucher,
                       sme_share=line.amount - voucher,
                       returned=line.voucher_share if all_sme else ZERO)


def _dropped(line: QuoteLine) -> ChargedLine:
    return ChargedLine(line=line, state="not_charged", amount=ZERO, voucher_share=ZERO,
                       sme_share=ZERO, returned=line.voucher_share)


def charged_lines(quote: Quote, booking_status: str | None) -> list[ChargedLine]:
    """What each line of ``quote`` charges, in position order: the one source of what a
    booking owes (statements, the billing report, the booking's and quote's pages, the
    vouchers page all read this). ``booking_status``: the status of the booking the quote
    prices (``Booking.Status`` value), None when no booking holds it (a rescheduled
    booking's old quote, or an estimate or offer).

    A booking quote (kind ``booking``):
    - booking confirmed, checked in or completed: every line but a late-cancellation line,
      split as the quote split it;
    - a no-show: the same lines, all the firm's (the voucher does not pay for unused slots;
      its share went back to the grant);
    - cancelled: the late-cancellation line alone (the firm's), if there is one;
    - rejected: nothing;
    - requested: every line but a late-cancellation line, pending, as split;
    - no booking: pending while the quote is booked, else (released) as cancelled.
    An estimate's or offer's lines are ``quoted`` as they are.
    Lines are read from ``quote.lines.all()`` (prefetch them for lists)."""
    lines = sorted(quote.lines.all(), key=lambda line: line.position)
    late = QuoteLine.Kind.LATE_CANCELLATION
    if quote.kind != Quote.Kind.BOOKING:
        return [_as(line, "quoted") for line in lines]
    if booking_status is None:
        booking_status = REQUESTED if quote.status == Quote.Status.BOOKED else CANCELLED
    out = []
    for line in lines:
        if booking_status in CARRIED_OUT or booking_status == REQUESTED:
            state = "charged" if booking_status in CARRIED_OUT else "pending"
            out.append(_as(line, state) if line.kind != late else _dropped(line))
        elif booking_status == NO_SHOW:
            out.append(_as(line, "charged", all_sme=True) if line.kind != late
                       else _dropped(line))
        elif booking_status == CANCELLED and line.kind == late:
            out.append(_as(line, "charged", all_sme=True))
        else:
            out.append(_dropped(line))
    return out


@dataclass(frozen=True)
class ChargedTotals:
    """Sums of charged lines: what is (or will be) owed, split; and the voucher share
    given back to the grant."""

    total: Decimal = ZERO
    voucher_total: Decimal = ZERO
    sme_total: Decimal = ZERO
    returned: Decimal = ZERO
    released: bool = False


def charged_totals(lines: list[ChargedLine]) -> ChargedTotals:
    """Plain sums of :func:`charged_lines` (lines that count), and what was returned."""
    counted = [c for c in lines if c.counts]
    return ChargedTotals(
        total=sum((c.amount for c in counted), ZERO),
        voucher_total=sum((c.voucher_share for c in counted), ZERO),
        sme_total=sum((c.sme_share for c in counted), ZERO),
        returned=sum((c.returned for c in lines), ZERO),
        released=any(c.state == "not_charged" for c in lines)
        or any(c.returned for c in lines))


def booking_status_of(quote: Quote) -> str | None:
    """The status of the booking ``quote`` prices (None: no booking holds it)."""
    booking = getattr(quote, "booking", None)
    return booking.status if booking is not None else None


def made_from(quote: Quote) -> list[Quote]:
    """The booking quotes made from an accepted estimate or offer (with their bookings);
    uses ``booking_copies`` when prefetched (``quotes_visible_to``)."""
    if quote.kind == Quote.Kind.BOOKING or quote.status != Quote.Status.ACCEPTED:
        return []
    copies = getattr(quote, "booking_copies", None)
    if copies is None:
        copies = list(quote.copies.filter(kind=Quote.Kind.BOOKING)
                      .select_related("booking", "booking__equipment")
                      .prefetch_related("lines").order_by("start", "pk"))
    return copies


def quote_charges(quote: Quote) -> ChargedTotals:
    """What a quote stands for now, in the totals of :func:`charged_totals`: a booking
    quote, what it charges; an accepted estimate or offer, what the bookings made from it
    charge together (their split: the voucher is applied when booking); otherwise its
    own prices as quoted."""
    copies = made_from(quote)
    if copies:
        parts = [charged_totals(charged_lines(c, booking_status_of(c))) for c in copies]
        return ChargedTotals(total=sum((p.total for p in parts), ZERO),
                             voucher_total=sum((p.voucher_total for p in parts), ZERO),
                             sme_total=sum((p.sme_total for p in parts), ZERO),
                             returned=sum((p.returned for p in parts), ZERO),
                             released=any(p.released for p in parts))
    return charged_totals(charged_lines(quote, booking_status_of(quote)))
