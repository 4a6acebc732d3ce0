"""Gates in front of every page a session user opens: a suspended organisation's members
see a page saying so (its API keys are refused in ``organizations.auth``), and, where
production requires it, platform staff enrol a second factor before the admin console."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from .portal import organization_of

# Pages a suspended organisation's member may still open: logging out, the language
# switch, static files; the API and health probes have doors of their own; the admin
# console is for platform staff.
SUSPENSION_EXEMPT = ("/accounts/", "/i18n/", "/static/", "/api/", "/admin/", "/healthz",
                     "/readyz")


class SuspendedOrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not request.path.startswith(SUSPENSION_EXEMPT)):
            organization = organization_of(request)
            if organization is not None and organization.is_suspended:
                return render(request, "organizations/suspended.html",
                              {"organization": organization}, status=403)
        return self.get_response(request)


class StaffMFAMiddleware:
    """With ``MFA_REQUIRED_FOR_STAFF``, a staff user without an enrolled authenticator is
    sent from the admin console to enrol one (TOTP), then comes back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.MFA_REQUIRED_FOR_STAFF and request.path.startswith("/admin/"):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated and user.is_staff:
                from allauth.mfa.utils import is_mfa_enabled

                if not is_mfa_enabled(user):
                    query = urlencode({"next": request.get_full_path()})
                    return redirect(f"{reverse('mfa_activate_totp')}?{query}")
        return self.get_response(request)
