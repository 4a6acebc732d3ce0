"""Portal forms for trial results."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ConsentForm(forms.Form):
    agreement = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label=_("I have read these terms and agree to share this trial's results under them."),
        error_messages={"required": _("Tick the box to confirm that you agree to the terms.")})


class StandingConsentForm(forms.Form):
    agreement = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label=_("Share, under these terms, the results of every trial of ours that this "
                "agreement covers, earlier and future ones, until we stop it. A trial "
                "whose consent we revoked stays unshared."),
        error_messages={"required": _("Tick the box to confirm that you agree to the terms.")})
