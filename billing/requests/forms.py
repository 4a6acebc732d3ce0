"""Portal and console forms of service requests. They parse input only: every rule is the
service's (``billing.requests.services``), whose refusals are shown next to the fields
they concern (``core.forms.add_errors``). Times are wall-clock times of the hub (the view
activates its time zone)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from core.forms import LocalDateTimeField, LocalDateTimeInput
from equipment.models import Equipment, Hub
from pricing.forms import SHORTFALL_CHOICES, ItemQuantities, VoucherFields
from pricing.models import PricedItem, Quote, VoucherGrant

from . import services

ACCEPT = ".pdf,.png,.jpg,.jpeg,.step,.stp,.dxf,.zip"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class HubChoiceForm(forms.Form):
    hub = forms.ModelChoiceField(label=gettext_lazy("Hub"), queryset=Hub.objects.none(),
                                 to_field_name="slug",
                                 empty_label=gettext_lazy("Choose a hub"))

    def __init__(self, *args, hubs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hub"].queryset = hubs


class EquipmentChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Equipment) -> str:
        return obj.name


class RequestForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=services.TITLE_MAX_LENGTH,
                            help_text=gettext_lazy("e.g. Roughing and inspecting 20 titanium "
                                                   "brackets"))
    equipment = EquipmentChoices(
        label=gettext_lazy("Equipment wanted"), queryset=Equipment.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("1 to 5 pieces, used together in one trial."))
    plan = forms.CharField(
        label=gettext_lazy("Trial plan"), max_length=services.PLAN_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy("What the hub's staff should run, with which parts, materials "
                               "and inspections."))
    preferred_start = LocalDateTimeField(label=gettext_lazy("Preferred start"))
    preferred_end = LocalDateTimeField(label=gettext_lazy("Preferred end"))
    attachments = MultipleFileField(
        label=gettext_lazy("Files"), required=False,
        help_text=gettext_lazy("Drawings, models or the plan: PDF, PNG, JPEG, STEP, DXF or "
                               "ZIP. The hub's operator sees them."))

    def __init__(self, *args, equipment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["equipment"].queryset = equipment


class AttachmentForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Attach a file"),
                           widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (optional)"), required=False,
                             max_length=services.REASON_MAX_LENGTH)


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why the hub cannot run this trial"),
        max_length=services.REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The firm reads this."))


class GrantChoices(forms.ModelChoiceField):
    def label_from_instance(self, obj: VoucherGrant) -> str:
        return f"{obj.programme.name} · {obj.reference_number} (¥{obj.remaining:,.2f})"


class AcceptForm(forms.Form):
    """The voucher to apply when accepting, worded as the booking form's
    (``pricing.forms.VoucherFields``). A bound form without a shortfall choice keeps the
    default ("Pay the difference") selected, so a preview shows the choice it will use."""

    grant = GrantChoices(label=gettext_lazy("Apply an innovation voucher"), required=False,
                         queryset=VoucherGrant.objects.none(),
                         empty_label=gettext_lazy("No voucher"),
                         help_text=VoucherFields.base_fields["voucher_grant"].help_text)
    shortfall = forms.ChoiceField(
        label=VoucherFields.base_fields["if_voucher_short"].label,
        choices=SHORTFALL_CHOICES, initial=Quote.Shortfall.SME_PAYS, required=False,
        widget=forms.RadioSelect)

    def __init__(self, data=None, *args, grants, **kwargs):
        if data is not None and not data.get("shortfall"):
            data = data.copy()
            data["shortfall"] = Quote.Shortfall.SME_PAYS
        super().__init__(data, *args, **kwargs)
        self.fields["grant"].queryset = grants


class OfferForm(ItemQuantities, forms.Form):
    """One period per requested equipment (``start_<id>``, ``end_<id>``), a quantity per
    item of the hub's rate card (``item_<code>``), a note and the validity."""

    note = forms.CharField(label=gettext_lazy("Note for the firm"), required=False,
                           max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))
    valid_until = LocalDateTimeField(label=gettext_lazy("Offer valid until"))

    def __init__(self, *args, equipment: list[Equipment], items: list[PricedItem], **kwargs):
        super().__init__(*args, **kwargs)
        self.equipment = equipment
        for piece in equipment:
            step = str(piece.slot_granularity * 60)
            self.fields[f"start_{piece.pk}"] = LocalDateTimeField(
                label=gettext_lazy("Start"), widget=_local(step))
            self.fields[f"end_{piece.pk}"] = LocalDateTimeField(
                label=gettext_lazy("End"), widget=_local(step))
        self.add_item_fields(items)

    def piece_fields(self):
        return [(piece, self[f"start_{piece.pk}"], self[f"end_{piece.pk}"])
                for piece in self.equipment]

    def periods(self):
        d = self.cleaned_data
        return [(piece.pk, d[f"start_{piece.pk}"], d[f"end_{piece.pk}"])
                for piece in self.equipment]

    def clean(self):
        return self.clean_item_quantities(super().clean())


def _local(step: str):
    widget = LocalDateTimeInput()
    widget.attrs["step"] = step
    return widget
