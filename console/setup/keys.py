"""The organisation's API keys, for its admins only: list, create (the key is shown once,
on the next page), revoke. Writes through ``organizations.services``."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import add_errors
from organizations import services
from organizations.portal import not_found_as_404
from organizations.selectors import api_keys_of

from ..access import operator_required
from ..forms_setup import ApiKeyForm

KEY_SESSION_KEY = "console_new_api_key"


@operator_required(admin=True)
def key_list(request):
    """GET: the keys and the form; POST: a new key, shown once on the next page."""
    form = ApiKeyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                key, secret = services.create_api_key(
                    organization=request.organization, name=form.cleaned_data["name"]
                )
            except DomainError as exc:
                add_errors(form, exc)
            else:
                request.session[KEY_SESSION_KEY] = {"name": key.name, "key": secret}
                return redirect("console:api-keys")
        status = 400
    return render(
        request,
        "console/setup/api_keys.html",
        {
            "form": form,
            "keys": api_keys_of(request.organization),
            "new_key": request.session.pop(KEY_SESSION_KEY, None),
        },
        status=status,
    )


@operator_required(admin=True)
@require_POST
def key_revoke(request, prefix: str):
    with not_found_as_404():
        key = services.revoke_api_key(organization=request.organization, prefix=prefix)
    messages.success(
        request, _("The key “%(name)s” is revoked; it no longer works.") % {"name": key.name}
    )
    return redirect("console:api-keys")
