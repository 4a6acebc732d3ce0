"""Forms of the console's floor pages. They parse input only: who may do what, and when,
is the booking and equipment services' to decide (their refusals are shown at the field
they concern with ``core.forms.add_errors``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bookings.forms import LocalDateTimeField
from bookings.services import REASON_MAX_LENGTH
from core.errors import ValidationFailed
from core.forms import add_errors
from core.validators import validate_period
from equipment.models import Equipment, MaintenanceWindow

REASON_MAX = REASON_MAX_LENGTH  # the booking service's limit, said at the field


def _reason_widget(placeholder) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 2, "placeholder": placeholder})


class ApproveForm(forms.Form):
    reason = forms.CharField(
        label=_("Note to the SME (optional)"),
        required=False,
        max_length=REASON_MAX,
        widget=_reason_widget(_("e.g. bring your own fixtures")),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejecting"),
        max_length=REASON_MAX,
        widget=_reason_widget(_("The SME reads this")),
        error_messages={"required": _("Give the reason for rejecting: the SME reads it.")},
    )


class FloorActionForm(forms.Form):
    """Check-in, completion and no-show: an optional note kept in the booking's history."""

    reason = forms.CharField(
        label=_("Note (optional)"), required=False, max_length=REASON_MAX, widget=forms.TextInput()
    )


class MaintenanceForm(forms.Form):
    """A maintenance window of one of the operator's machines. Start and end are wall-clock
    times of the chosen equipment's hub."""

    equipment = forms.ModelChoiceField(
        label=_("Equipment"), queryset=Equipment.objects.none(), empty_label=_("Choose equipment")
    )
    start = LocalDateTimeField(label=_("Start"))
    end = LocalDateTimeField(label=_("End"))
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MaintenanceWindow._meta.get_field("reason").max_length,
        help_text=_("Told to the SMEs whose bookings it cancels."),
    )

    def __init__(self, *args, equipment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["equipment"].queryset = equipment
        self.fields["equipment"].label_from_instance = lambda e: f"{e.name} · {e.hub.name}"

    def hub_timezone(self) -> ZoneInfo | None:
        """The time zone the times are read in: the chosen equipment's hub."""
        value = self.data.get(self.add_prefix("equipment")) if self.is_bound else None
        try:
            chosen = self.fields["equipment"].queryset.filter(pk=int(value)).first()
        except (TypeError, ValueError):
            chosen = None
        return ZoneInfo(chosen.hub.timezone) if chosen else None

    def full_clean(self):
        tz = self.hub_timezone()
        if tz is None:
            super().full_clean()
            return
        with timezone.override(tz):
            super().full_clean()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            try:
                validate_period(start, end)
            except ValidationFailed as exc:
                add_errors(self, exc)
        return data
