"""Portal forms for finding and booking equipment. They parse input only: every booking
rule is the service's (``services.create_booking``), whose refusals are shown next to the
fields they concern with their own messages (``core.forms.add_errors``), translated where
the errors are defined (``bookings.errors``)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ValidationFailed
from core.forms import (
    LOCAL_FORMATS,
    LOCAL_INPUT,
    LocalDateTimeField,
    LocalDateTimeInput,
    add_errors,
)
from core.validators import validate_period
from equipment.models import Capability, Category, Equipment, Hub
from pricing.forms import VoucherFields

from .selectors import MAX_AVAILABILITY_RANGE
from .services import REASON_MAX_LENGTH

# The hub's wall-clock date-time field lives in core.forms; re-exported here for the booking
# pages and the console.
__all__ = ["LOCAL_FORMATS", "LOCAL_INPUT", "AttachmentForm", "BookingForm", "CancelForm",
           "CatalogSearchForm", "LocalDateTimeField", "LocalDateTimeInput", "PeriodForm",
           "QualificationRequestForm"]


class CatalogSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={
                            "type": "search",
                            "placeholder": gettext_lazy("Machine, process, hub…")}))
    category = forms.ModelChoiceField(label=gettext_lazy("Category"), required=False,
                                      queryset=Category.objects.all(), to_field_name="slug",
                                      empty_label=gettext_lazy("All categories"))
    capability = forms.ModelChoiceField(label=gettext_lazy("Capability"), required=False,
                                        queryset=Capability.objects.all(), to_field_name="slug",
                                        empty_label=gettext_lazy("Any capability"))
    hub = forms.ModelChoiceField(label=gettext_lazy("Hub"), required=False,
                                 queryset=Hub.objects.all(), to_field_name="slug",
                                 empty_label=gettext_lazy("All hubs"))
    free_from = LocalDateTimeField(label=gettext_lazy("Free from"), required=False)
    free_until = LocalDateTimeField(label=gettext_lazy("until"), required=False)

    def clean(self):
        data = super().clean()
        start, end = data.get("free_from"), data.get("free_until")
        if bool(start) != bool(end) and not self.errors:
            field = "free_until" if start else "free_from"
            self.add_error(field, _("Give both ends of the period to look for free time."))
        elif start and end:
            try:
                validate_period(start, end, max_range=MAX_AVAILABILITY_RANGE,
                                fields=("free_from", "free_until"))
            except ValidationFailed as exc:
                add_errors(self, exc)
            else:
                if end <= timezone.now():  # nothing in it can be booked any more
                    self.add_error("free_until", _("This period is over."))
        return data

    @property
    def window(self):
        if not self.is_valid():
            return None
        start, end = self.cleaned_data.get("free_from"), self.cleaned_data.get("free_until")
        return (start, end) if start and end else None


class BookingForm(VoucherFields):
    """The booking: period, trial plan and lead, and its money: an innovation-voucher grant
    to apply (the SME's usable grants) with what to do when it falls short, and the
    estimate it comes from (``quote``: its prices are kept while it is valid)."""

    start = LocalDateTimeField(label=gettext_lazy("Start"))
    end = LocalDateTimeField(label=gettext_lazy("End"))
    purpose = forms.CharField(
        label=gettext_lazy("Purpose (trial plan)"), max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("What you will test, with which parts and materials. The hub "
                               "operator reads this."))
    trial_lead = forms.ChoiceField(
        label=gettext_lazy("Trial lead"), required=False,
        help_text=gettext_lazy("The member of your organisation who runs the trial."))
    quote = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput())

    field_order = ["start", "end", "voucher_grant", "if_voucher_short", "purpose",
                   "trial_lead", "quote"]

    def __init__(self, *args, equipment: Equipment, members, grants=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.set_grants(grants)
        self.equipment = equipment
        step = str(equipment.slot_granularity * 60)
        for name in ("start", "end"):
            self.fields[name].widget.attrs.update({"step": step})
        self.fields["trial_lead"].choices = [
            (m.user.email, m.user.get_full_name() or m.user.email) for m in members]


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (optional)"), required=False,
                             max_length=REASON_MAX_LENGTH, widget=forms.TextInput())


class PeriodForm(forms.Form):
    """A new period for a booking (wall-clock times of the hub: the view activates its time
    zone): moving a booking, or the price preview of the booking form."""

    start = LocalDateTimeField(label=gettext_lazy("New start"))
    end = LocalDateTimeField(label=gettext_lazy("New end"))

    def __init__(self, *args, equipment: Equipment | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if equipment is not None:
            step = str(equipment.slot_granularity * 60)
            for name in ("start", "end"):
                self.fields[name].widget.attrs.update({"step": step})


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Attach a file"),
        help_text=gettext_lazy("Drawings, models or the trial plan: PDF, PNG, JPEG, STEP, DXF "
                               "or ZIP. The hub operator sees them."),
        widget=forms.ClearableFileInput(attrs={
            "accept": ".pdf,.png,.jpg,.jpeg,.step,.stp,.dxf,.zip"}))


class QualificationRequestForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note for the hub operator"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("Your training and experience on such machines, and what you "
                               "plan to run."))
    whole_category = forms.BooleanField(
        label=gettext_lazy("Ask for every equipment of this category"), required=False,
        help_text=gettext_lazy("Otherwise for this equipment only."))
