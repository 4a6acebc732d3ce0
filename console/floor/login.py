"""Where a flagship member lands after logging in: the console's home (what needs them
now), not the SME catalogue. Wired by ``ACCOUNT_ADAPTER`` in the settings (the lead's); an
explicit ``next`` still wins, as allauth does for every adapter."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse

from organizations.models import Organization
from organizations.portal import organization_of


def console_landing(request) -> str | None:
    """The console's home for members of a flagship firm; None for everyone else."""
    organization = organization_of(request)
    if organization is not None and organization.kind == Organization.Kind.FLAGSHIP:
        return reverse("console:home")
    return None


class ConsoleLandingAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        return console_landing(request) or super().get_login_redirect_url(request)
