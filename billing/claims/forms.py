"""Forms of the claims' console pages and admin actions: they parse; the services judge."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import DayField, MonthField

from . import services


def last_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


class ClaimDraftForm(forms.Form):
    """Programme × month: the claim to draft (or refresh)."""

    programme = forms.ModelChoiceField(queryset=None, label=_("Voucher programme"),
                                       empty_label=None)
    month = MonthField(
        label=_("Month"),
        help_text=_("YYYY-MM: completed bookings starting in it, in each hub's time zone."))

    def __init__(self, *args, programmes, **kwargs):
        kwargs.setdefault("initial", {"month": last_month(timezone.localdate())})
        super().__init__(*args, **kwargs)
        self.fields["programme"].queryset = programmes
        self.fields["programme"].label_from_instance = (
            lambda programme: f"{programme.name} ({programme.reference})")


class VoucherReportForm(forms.Form):
    start = DayField(label=_("From"),
                     widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = DayField(label=_("To (inclusive)"),
                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    @classmethod
    def for_query(cls, query) -> VoucherReportForm:
        """This year so far when the page is first opened."""
        if not any(name in query for name in ("start", "end")):
            today = timezone.localdate()
            query = {"start": f"{today.replace(month=1, day=1):%Y-%m-%d}",
                     "end": f"{today:%Y-%m-%d}"}
        return cls(query)

    def period(self) -> tuple[datetime, datetime]:
        """The chosen days as [midnight, midnight after the last day) in the site's zone."""

        def midnight(day: date) -> datetime:
            return timezone.make_aware(datetime.combine(day, time()))

        return (midnight(self.cleaned_data["start"]),
                midnight(self.cleaned_data["end"] + timedelta(days=1)))


class RejectClaimForm(forms.Form):
    # Not required here: the service says what is missing, at the field.
    reason = forms.CharField(label=_("Reason"), required=False,
                             widget=forms.Textarea(attrs={"rows": 4}),
                             max_length=services.REASON_MAX_LENGTH,
                             help_text=_("Shown to the provider, who may reopen and resubmit "
                                         "the claim."))


class PaidClaimForm(forms.Form):
    payment_reference = forms.CharField(
        label=_("Payment reference"), required=False,
        max_length=services.REFERENCE_MAX_LENGTH,
        help_text=_("The programme office's payment (e.g. the bank transfer's number)."))
