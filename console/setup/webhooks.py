"""The operator's event webhook endpoints: create (the signing secret shown once),
disable and re-enable (a fresh start: the failure count is reset), delete, and the recent
deliveries of each. Writes through ``core.services``."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import services
from core.errors import DomainError, error_text, valid_id
from core.forms import add_errors
from organizations.selectors import recent_deliveries, webhook_endpoints_of

from ..access import operator_required
from ..forms_setup import WebhookForm

SECRET_SESSION_KEY = "console_webhook_secret"


def _endpoint(request, pk: int):
    key = valid_id(pk)
    found = webhook_endpoints_of(request.organization).filter(pk=key).first() if key else None
    if found is None:
        raise Http404(_("No such webhook endpoint."))
    return found


def _page(request, form, status=200):
    secret = request.session.pop(SECRET_SESSION_KEY, None)
    endpoints = [
        (endpoint, recent_deliveries(endpoint))
        for endpoint in webhook_endpoints_of(request.organization)
    ]
    return render(
        request,
        "console/setup/webhooks.html",
        {
            "form": form,
            "endpoints": endpoints,
            "secret": secret,
        },
        status=status,
    )


@operator_required
def webhook_list(request):
    """GET: the endpoints and the form; POST: a new endpoint."""
    if request.method != "POST":
        return _page(request, WebhookForm())
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            endpoint = services.create_endpoint(
                organization=request.organization, data=dict(form.cleaned_data)
            )
        except DomainError as exc:
            add_errors(form, exc)
        else:
            request.session[SECRET_SESSION_KEY] = {
                "id": endpoint.pk,
                "url": endpoint.url,
                "secret": endpoint.secret,
            }
            return redirect("console:webhooks")
    return _page(request, form, status=400)


@operator_required
@require_POST
def webhook_active(request, pk: int):
    """``active=1`` re-enables (and resets the failure count), ``active=0`` disables."""
    endpoint = _endpoint(request, pk)
    active = request.POST.get("active") == "1"
    try:
        services.update_endpoint(endpoint=endpoint, data={"active": active})
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request,
            _("%(url)s is enabled again.") % {"url": endpoint.url}
            if active
            else _("%(url)s is disabled.") % {"url": endpoint.url},
        )
    return redirect("console:webhooks")


@operator_required
@require_POST
def webhook_delete(request, pk: int):
    endpoint = _endpoint(request, pk)
    url = endpoint.url
    services.delete_endpoint(endpoint=endpoint)
    messages.success(request, _("%(url)s is deleted.") % {"url": url})
    return redirect("console:webhooks")
