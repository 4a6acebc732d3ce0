"""Console pages of prices (operators): the rate cards of the hubs they run — the list,
a card's table of equipment prices and items, a new card from a date (a price change) —
and the voucher programmes that accredit their hubs (read-only). Writes through
``pricing.setup``; another operator's card is not found."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound, ValidationFailed
from core.forms import add_errors
from equipment.models import Equipment
from equipment.selectors import hubs_operated_by
from organizations.portal import operator_required

from . import selectors, setup
from .forms import ItemFormSet, NewCardForm, RateCardForm, RateRowForm
from .models import RateCard
from .setup import ITEM_FIELDS, RATE_FIELDS


def _today(hub):
    return selectors.hub_day(hub, timezone.now())


@operator_required
def rate_cards(request):
    """Each hub the operator runs with its cards (the one valid today marked) and the form
    to start new prices from a date; the programmes accrediting its hubs."""
    return _cards_page(request)


def _cards_page(request, *, failed: dict | None = None, status: int = 200):
    """The rate cards page; ``failed``: hub id → its new-card form with its errors."""
    cards = list(setup.rate_cards_of(request.organization))
    hubs = []
    for hub in hubs_operated_by(request.organization).order_by("name"):
        current = selectors.rate_card_on(hub, _today(hub))
        hubs.append({"hub": hub, "current": current,
                     "cards": [c for c in cards if c.hub_id == hub.pk],
                     "form": (failed or {}).get(hub.pk)
                     or NewCardForm(prefix=f"hub-{hub.pk}",
                                    initial={"valid_from": _today(hub)})})
    return render(request, "pricing/console/rate_cards.html", {
        "hubs": hubs, "programmes": setup.programmes_accrediting(request.organization),
        "section": "console"}, status=status)


@operator_required
@require_POST
def new_card(request, hub_slug: str):
    """Start new prices at a hub from a date: a copy of the card before it, to edit."""
    hub = hubs_operated_by(request.organization).filter(slug=hub_slug).first()
    if hub is None:
        raise Http404(_("No such hub."))
    form = NewCardForm(request.POST, prefix=f"hub-{hub.pk}")
    if form.is_valid():
        try:
            card = setup.copy_rate_card(hub=hub, operator=request.organization,
                                        valid_from=form.cleaned_data["valid_from"],
                                        name=form.cleaned_data["name"],
                                        name_zh_hans=form.cleaned_data["name_zh_hans"],
                                        by_user=request.user)
        except ValidationFailed as exc:  # the form again, each refusal at its field
            add_errors(form, exc)
            return _cards_page(request, failed={hub.pk: form}, status=400)
        except DomainError as exc:
            messages.error(request, _error_line(exc))
        else:
            messages.success(request, _("New prices from %(day)s: check and save them.")
                             % {"day": card.valid_from.isoformat()})
            return redirect("pricing-console:card", pk=card.pk)
    else:
        return _cards_page(request, failed={hub.pk: form}, status=400)
    return redirect("pricing-console:rate-cards")


def _error_line(exc: DomainError) -> str:
    if isinstance(exc, ValidationFailed):
        return " ".join(v.message for v in exc.violations)
    return exc.message


def _card_or_404(request, pk: int) -> RateCard:
    try:
        return setup.rate_card_of(request.organization, pk)
    except NotFound:
        raise Http404(_("No such rate card.")) from None


def _equipment_rows(card: RateCard, data=None) -> list[dict]:
    """One row per equipment of the hub (retired ones only if on the card)."""
    rates = {rate.equipment_id: rate for rate in card.rates.all()}
    rows = []
    for equipment in (Equipment.objects.filter(hub=card.hub).select_related("category")
                      .order_by("name")):
        rate = rates.get(equipment.pk)
        if equipment.status == Equipment.Status.RETIRED and rate is None:
            continue
        initial = {k: getattr(rate, k) for k in RATE_FIELDS} if rate else {}
        rows.append({"equipment": equipment, "form": RateRowForm(
            data, prefix=f"rate-{equipment.pk}", initial=initial)})
    return rows


def _item_initial(card: RateCard) -> list[dict]:
    return [{k: getattr(item, k) for k in ITEM_FIELDS} for item in card.items.all()]


def _place(exc: ValidationFailed, form, rate_forms: list, item_forms: list) -> None:
    """The service's violations next to their cells: ``rates.<i>.<field>`` on the i-th
    equipment row given to it, ``items.<i>.<field>`` on the i-th item row."""
    rest = []
    for v in exc.violations:
        parts = v.field.split(".")
        target = None
        if len(parts) == 3 and parts[1].isdigit():
            group = {"rates": rate_forms, "items": item_forms}.get(parts[0], [])
            index = int(parts[1])
            if index < len(group) and parts[2] in group[index].fields:
                target = group[index]
        if target is not None:
            target.add_error(parts[2], v.message)
        else:
            rest.append(v)
    if rest:
        add_errors(form, ValidationFailed(rest))


@operator_required
def card_detail(request, pk: int):
    """GET: the card's table; POST: save it (name, validity, every row at once)."""
    card = _card_or_404(request, pk)
    data = request.POST if request.method == "POST" else None
    form = RateCardForm(data, initial={"name_en": card.name_en or card.name,
                                       "name_zh_hans": card.name_zh_hans,
                                       "valid_from": card.valid_from,
                                       "valid_until": card.valid_until})
    rows = _equipment_rows(card, data)
    items = ItemFormSet(data, prefix="items", initial=_item_initial(card))
    status = 200
    if data is not None:
        valid = all([form.is_valid(), items.is_valid(),
                     *[row["form"].is_valid() for row in rows]])
        if valid:
            rate_forms, rates = _rates(rows)
            item_forms, item_data = _items(items)
            try:
                setup.save_rate_card(
                    hub=card.hub, operator=request.organization, by_user=request.user,
                    card=card, name=form.cleaned_data["name_en"],
                    name_zh_hans=form.cleaned_data["name_zh_hans"],
                    valid_from=form.cleaned_data["valid_from"],
                    valid_until=form.cleaned_data["valid_until"], rates=rates,
                    items=item_data)
            except ValidationFailed as exc:
                _place(exc, form, rate_forms, item_forms)
            except DomainError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("The rate card is saved."))
                return redirect("pricing-console:card", pk=card.pk)
        status = 400
    today = _today(card.hub)
    return render(request, "pricing/console/card.html", {
        "card": card, "form": form, "rows": rows, "items": items, "section": "console",
        "is_current": getattr(selectors.rate_card_on(card.hub, today), "pk", None) == card.pk,
    }, status=status)


def _rates(rows: Iterable[dict]) -> tuple[list, list[dict]]:
    forms, rates = [], []
    for row in rows:
        data = row["form"].cleaned_data
        if data.get("hourly_rate") is None:
            continue  # off the card
        forms.append(row["form"])
        rates.append({"equipment": row["equipment"], "hourly_rate": data["hourly_rate"],
                      "assisted_hourly_surcharge": data.get("assisted_hourly_surcharge")
                      or Decimal("0.00"),
                      "setup_fee": data.get("setup_fee") or Decimal("0.00")})
    return forms, rates


def _items(formset) -> tuple[list, list[dict]]:
    forms, items = [], []
    for f in formset.forms:
        data = getattr(f, "cleaned_data", None) or {}
        if not (data.get("code") or "").strip() or data.get("remove"):
            continue
        forms.append(f)
        items.append({k: data.get(k) for k in ITEM_FIELDS})
    return forms, items
