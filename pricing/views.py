"""Portal pages of pricing (SMEs): "Get a quote" for an equipment, the quote's page (lines,
voucher and own shares, validity, "Book with this quote"), the firm's quotes, and its
innovation vouchers with the bookings that used them.

Views parse, make one service or selector call and render; prices are the pricing
service's, refusals shown at their fields with their own messages."""

from __future__ import annotations

from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.forms import LOCAL_INPUT, add_errors, parse_local
from equipment import selectors as catalog_selectors
from equipment.models import Equipment
from organizations.portal import not_found_as_404, sme_required

from . import selectors, services
from .forms import QuoteRequestForm
from .models import QuoteLine, Unit, VoucherGrant
from .money import ZERO, plain_number

QUOTES_PAGE = 20


def quantity_text(quantity, unit: str) -> str:
    """A line's quantity as the reader reads it: hours as "2.5 h", other units as the
    number without trailing zeros and the unit's name ("3 piece" / "3件")."""
    number = plain_number(quantity)
    if unit == Unit.HOUR:
        return _("%(quantity)s h") % {"quantity": number}
    return _("%(quantity)s %(unit)s") % {"quantity": number,
                                         "unit": dict(Unit.choices).get(unit, unit)}


def line_rows(lines, charges=None) -> list[dict]:
    """Quote lines (stored, or drafts of a preview) as the reader's rows: what each is in
    the reader's language (its kind, with the equipment or item), quantity, unit price,
    amount and its voucher and own shares. With ``charges`` (``selectors.charged_lines``
    of the same lines), the shares are what the line charges now: a line not charged is
    marked so, with the voucher share returned to the grant."""
    kinds = dict(QuoteLine.Kind.choices)
    by_line = {id(c.line): c for c in charges or ()}
    rows = []
    for line in lines:
        what = line.item.name if line.item else (line.equipment.name if line.equipment else "")
        charge = by_line.get(id(line))
        rows.append({"kind": line.kind, "label": kinds.get(line.kind, line.kind), "what": what,
                     "quantity": line.quantity, "unit": line.unit,
                     "quantity_text": quantity_text(line.quantity, line.unit),
                     "unit_price": line.unit_price, "amount": line.amount,
                     "voucher_share": charge.voucher_share if charge else line.voucher_share,
                     "sme_share": charge.sme_share if charge else line.sme_share,
                     "state": charge.state if charge else "",
                     "not_charged": bool(charge) and not charge.counts,
                     "returned": charge.returned if charge else ZERO})
    return rows


def charges_context(quote, booking_status: str | None) -> dict:
    """What a quote's lines charge now (``selectors.charged_lines``), for
    ``pricing/_lines.html``: rows, and the totals of what is (or will be) owed."""
    charges = selectors.charged_lines(quote, booking_status)
    sums = selectors.charged_totals(charges)
    return {"rows": line_rows([c.line for c in charges], charges), "total": sums.total,
            "voucher_total": sums.voucher_total, "sme_total": sums.sme_total,
            "returned": sums.returned, "released": sums.released,
            "show_split": bool(sums.voucher_total or sums.returned or quote.voucher_total)}


def usable_grants(organization, *, on=None):
    """The SME's grants that may still pay something: not revoked, not used up, valid
    on ``on`` (a date; None: today or later). Whether one applies to a booking is the
    pricing service's to say."""
    grants = selectors.grants_visible_to(organization).filter(revoked_at__isnull=True)
    day = on or timezone.localdate()
    grants = grants.filter(valid_until__gte=day, programme__valid_until__gte=day)
    if on is not None:
        grants = grants.filter(valid_from__lte=day)
    return [g for g in grants.order_by("valid_until", "pk") if g.remaining > 0]


def _equipment_or_404(pk: int) -> Equipment:
    equipment = catalog_selectors.equipment_list().filter(pk=pk).first()
    if equipment is None or equipment.status == Equipment.Status.RETIRED:
        raise Http404(_("No such equipment."))
    return equipment


def _items_of(equipment: Equipment) -> list:
    card = selectors.rate_card_on(equipment.hub, selectors.hub_day(equipment.hub,
                                                                    timezone.now()))
    return list(card.items.all()) if card else []


@sme_required
def quote_new(request, pk: int):
    """GET: the quote form (period from ``?start=&end=``); POST: ask for the estimate."""
    equipment = _equipment_or_404(pk)
    tz = ZoneInfo(equipment.hub.timezone)
    with timezone.override(tz):
        form = QuoteRequestForm(
            request.POST if request.method == "POST" else None,
            initial={"start": parse_local(request.GET.get("start")),
                     "end": parse_local(request.GET.get("end"))},
            equipment=equipment, items=_items_of(equipment),
            grants=usable_grants(request.organization))
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                quote = services.create_estimate(
                    organization=request.organization, equipment_id=equipment.pk,
                    start=d["start"], end=d["end"], assisted=d["assisted"],
                    items=form.chosen_items(), grant_id=form.grant_id,
                    shortfall=form.shortfall, by_user=request.user)
            except DomainError as exc:
                add_errors(form, exc)
            else:
                return redirect("pricing:quote", pk=quote.pk)
    return render(request, "pricing/quote_form.html", {
        "equipment": equipment, "hub": equipment.hub, "form": form},
        status=400 if form.errors else 200)


@sme_required
def quote_detail(request, pk: int):
    with not_found_as_404():
        quote = selectors.quote_for(request.organization, pk)
    lines = list(quote.lines.all())
    equipment = next((line.equipment for line in lines if line.equipment), None)
    now = timezone.now()
    bookable = (quote.kind == quote.Kind.ESTIMATE and quote.status == quote.Status.OPEN
                and (quote.valid_until is None or quote.valid_until > now)
                and equipment is not None and quote.start > now)
    book_url = ""
    if bookable:
        tz = ZoneInfo(quote.hub.timezone)
        params = {"start": quote.start.astimezone(tz).strftime(LOCAL_INPUT),
                  "end": quote.end.astimezone(tz).strftime(LOCAL_INPUT), "quote": quote.pk}
        if quote.grant_id:
            params.update(voucher_grant=quote.grant_id, if_voucher_short=quote.shortfall)
        book_url = f"{reverse('bookings:book', args=[equipment.pk])}?{urlencode(params)}"
    copies = selectors.made_from(quote)
    made = [{"quote": c, "booking": getattr(c, "booking", None),
             **charges_context(c, selectors.booking_status_of(c))} for c in copies]
    return render(request, "pricing/quote_detail.html", {
        "quote": quote, "hub": quote.hub, "equipment": equipment,
        "charges": charges_context(quote, selectors.booking_status_of(quote)),
        "made": made, "made_totals": selectors.quote_charges(quote) if copies else None,
        "book_url": book_url, "booking": getattr(quote, "booking", None)})


@sme_required
def my_quotes(request):
    quotes = selectors.quotes_visible_to(request.organization).order_by("-created", "-pk")
    page = Paginator(quotes, QUOTES_PAGE).get_page(request.GET.get("page"))
    rows = [{"quote": q, "money": selectors.quote_charges(q)} for q in page.object_list]
    return render(request, "pricing/my_quotes.html", {"page": page, "rows": rows})


@sme_required
def vouchers(request):
    """The SME's grants: programme, issuer, amount, used, remaining (a revoked grant:
    nothing usable), validity, and the booking quotes that used each with what the
    voucher pays of them now (``selectors.charged_lines``: a released booking's share is
    returned, so the column adds up to "Used")."""
    used = (selectors.quotes_visible_to(request.organization)
            .filter(kind="booking", voucher_total__gt=0)
            .select_related("booking", "booking__equipment").order_by("start", "pk"))
    grants = (selectors.grants_visible_to(request.organization)
              .prefetch_related(Prefetch("quotes", queryset=used, to_attr="uses"))
              .order_by("-valid_until", "pk"))
    cards = []
    for grant in grants:
        uses = [{"quote": q, "booking": getattr(q, "booking", None),
                 "money": selectors.quote_charges(q)} for q in grant.uses]
        cards.append({"grant": grant, "uses": uses,
                      "usable": ZERO if grant.revoked_at else grant.remaining})
    return render(request, "pricing/vouchers.html", {"cards": cards, "Grant": VoucherGrant})
