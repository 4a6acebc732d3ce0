"""Forms of the money pages: the operator's rate-card table and the SME's quote request.
They parse input only; the rules are ``pricing.setup``'s and ``pricing.services``', whose
refusals are shown next to the fields they concern (``core.forms.add_errors``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from core.forms import LocalDateTimeField

from .models import PricedItem, Quote, Unit
from .services import whole_refusal

MONEY_ATTRS = {"inputmode": "decimal", "step": "0.01", "min": "0"}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _money_field(label, *, required: bool = True) -> forms.DecimalField:
    # Prices are parsed by the service (to the fen, not negative): here only as numbers.
    return forms.DecimalField(label=label, required=required, max_digits=14,
                              decimal_places=2,
                              widget=forms.NumberInput(attrs=MONEY_ATTRS))


# --- the operator's rate cards -------------------------------------------------------------


class RateCardForm(forms.Form):
    name_en = forms.CharField(label=gettext_lazy("Name of the card in English"),
                              max_length=120)
    name_zh_hans = forms.CharField(
        label=gettext_lazy("Name of the card in Chinese"), max_length=120, required=False,
        help_text=gettext_lazy("Empty: the hub's name and the date."))
    valid_from = forms.DateField(label=gettext_lazy("Valid from"), widget=DateInput())
    valid_until = forms.DateField(
        label=gettext_lazy("Valid until"), required=False, widget=DateInput(),
        help_text=gettext_lazy("Empty: until a later card replaces it."))


class RateRowForm(forms.Form):
    """One equipment's prices on the card; an empty hourly rate leaves it off the card
    (then priced at its own hourly rate, with no surcharge or set-up fee)."""

    hourly_rate = _money_field(gettext_lazy("Hourly rate (CNY)"), required=False)
    assisted_hourly_surcharge = _money_field(gettext_lazy("Staff-assisted surcharge per hour"),
                                             required=False)
    setup_fee = _money_field(gettext_lazy("Set-up fee"), required=False)


class ItemRowForm(forms.Form):
    """A consumable or material; a row with no code is left out, ``remove`` takes it off."""

    code = forms.CharField(label=gettext_lazy("Code"), max_length=60, required=False)
    name_en = forms.CharField(label=gettext_lazy("Name in English"), max_length=160,
                              required=False)
    name_zh_hans = forms.CharField(label=gettext_lazy("Name in Chinese"), max_length=160,
                                   required=False)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=PricedItem.Kind.choices,
                             initial=PricedItem.Kind.CONSUMABLE)
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=Unit.choices,
                             initial=Unit.PIECE)
    unit_price = _money_field(gettext_lazy("Unit price (CNY)"), required=False)
    remove = forms.BooleanField(label=gettext_lazy("Remove"), required=False)


ItemFormSet = forms.formset_factory(ItemRowForm, extra=3)


class NewCardForm(forms.Form):
    valid_from = forms.DateField(label=gettext_lazy("New prices from"), widget=DateInput(),
                                 help_text=gettext_lazy("Today or later."))
    name = forms.CharField(label=gettext_lazy("Name of the card in English"), max_length=120,
                           required=False,
                           help_text=gettext_lazy("e.g. Prices 2027. Empty: the hub's name "
                                                  "and the date, in both languages."))
    name_zh_hans = forms.CharField(label=gettext_lazy("Name of the card in Chinese"),
                                   max_length=120, required=False)


# --- the SME's quote -----------------------------------------------------------------------


SHORTFALL_CHOICES = [
    (Quote.Shortfall.SME_PAYS, gettext_lazy("Pay the difference")),
    (Quote.Shortfall.REFUSE, gettext_lazy("Do not book")),
]


def grant_choices(grants) -> list[tuple[str, str]]:
    """A select of voucher grants: none, then each with its programme and what is left."""
    return [("", gettext_lazy("No voucher"))] + [
        (str(g.pk), f"{g.programme.name} · {g.reference_number} · ¥{g.remaining:,.2f}")
        for g in grants]


class VoucherFields(forms.Form):
    """A voucher grant to apply and what to do when it cannot cover its share (the quote
    form and the booking form)."""

    voucher_grant = forms.ChoiceField(
        label=gettext_lazy("Apply an innovation voucher"), required=False,
        help_text=gettext_lazy("The voucher pays its programme's share of equipment time, "
                               "staff assistance and set-up; materials are yours."))
    if_voucher_short = forms.ChoiceField(
        label=gettext_lazy("If the voucher cannot cover its share"), required=False,
        choices=SHORTFALL_CHOICES, initial=Quote.Shortfall.SME_PAYS,
        widget=forms.RadioSelect)

    def set_grants(self, grants) -> None:
        self.fields["voucher_grant"].choices = grant_choices(grants)
        if len(self.fields["voucher_grant"].choices) == 1:
            self.fields["voucher_grant"].widget = forms.HiddenInput()
            self.fields["if_voucher_short"].widget = forms.HiddenInput()

    @property
    def grant_id(self) -> int | None:
        value = self.cleaned_data.get("voucher_grant")
        return int(value) if value else None

    @property
    def shortfall(self) -> str:
        return self.cleaned_data.get("if_voucher_short") or Quote.Shortfall.SME_PAYS


class ItemQuantities:
    """A quantity field per item of a hub's rate card (``item_<code>``), for forms that
    price consumables and materials (a quote, an operator's offer). Pieces and sets are
    counted whole: the pricing service's own check, shown at the field."""

    def add_item_fields(self, items) -> None:
        self.items = list(items)
        for item in self.items:
            self.fields[f"item_{item.code}"] = forms.DecimalField(
                label=f"{item.name} (¥{item.unit_price:,.2f} / {item.get_unit_display()})",
                required=False, min_value=0, max_digits=12, decimal_places=4,
                widget=forms.NumberInput(attrs={"inputmode": "decimal", "min": "0",
                                                "step": "any"}))

    def item_fields(self):
        return [self[f"item_{item.code}"] for item in self.items]

    def clean_item_quantities(self, data: dict) -> dict:
        for item in self.items:
            name = f"item_{item.code}"
            refusal = whole_refusal(item.code, data[name], item.unit) \
                if data.get(name) else None
            if refusal is not None:
                self.add_error(name, refusal.message)
        return data

    def chosen_items(self) -> list[tuple[str, object]]:
        """(code, quantity) of the items given a quantity above zero."""
        return [(item.code, self.cleaned_data[f"item_{item.code}"]) for item in self.items
                if self.cleaned_data.get(f"item_{item.code}")]


class QuoteRequestForm(ItemQuantities, VoucherFields):
    start = LocalDateTimeField(label=gettext_lazy("Start"))
    end = LocalDateTimeField(label=gettext_lazy("End"))
    assisted = forms.BooleanField(
        label=gettext_lazy("Staff-assisted (the hub's staff run or assist the trial)"),
        required=False)

    field_order = ["start", "end", "assisted", "voucher_grant", "if_voucher_short"]

    def __init__(self, *args, equipment, items=(), grants=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.equipment = equipment
        step = str(equipment.slot_granularity * 60)
        for name in ("start", "end"):
            self.fields[name].widget.attrs.update({"step": step})
        self.add_item_fields(items)
        self.set_grants(grants)

    def clean(self):
        return self.clean_item_quantities(super().clean())
