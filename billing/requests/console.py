"""Console pages of service requests (operators): the queue of requests at the operator's
hubs, and a request's page with the offer form (a period per requested equipment, items
from the hub's rate card, a note, the validity) and the refusal. Writes through
``billing.requests.services``; another operator's request is a 404."""

from __future__ import annotations

from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.models import ServiceRequest
from core.errors import DomainError, NotFound, error_text
from core.forms import add_errors

# The console's gate (``console.access.operator_required``, which billing, below the
# console, may not import), as pricing's console pages hold it.
from organizations.portal import operator_required
from pricing.selectors import hub_day, rate_card_on

from . import selectors, services
from .forms import OfferForm, RefuseForm

PAGE = 20
WAITING = ServiceRequest.Status.SUBMITTED


def _request(request, pk: int) -> ServiceRequest:
    try:
        return selectors.request_for(request.organization, pk)
    except NotFound:
        raise Http404(_("No such service request.")) from None


@operator_required
def queue(request):
    """Requests at the operator's hubs: by default those waiting for an offer, oldest
    first; ``?status=`` another status, ``?status=all`` every one (newest first)."""
    status = request.GET.get("status") or WAITING
    requests = selectors.requests_visible_to(request.organization)
    if status in ServiceRequest.Status.values:
        requests = requests.filter(status=status)
    requests = requests.order_by("created", "pk") if status == WAITING \
        else requests.order_by("-created", "-pk")
    page = Paginator(requests, PAGE).get_page(request.GET.get("page"))
    return render(request, "billing/requests/console/queue.html", {
        "page": page, "status": status, "statuses": ServiceRequest.Status.choices,
        "query": urlencode({"status": status})})


def _items(service_request: ServiceRequest) -> list:
    card = rate_card_on(service_request.hub,
                        hub_day(service_request.hub, service_request.preferred_start))
    return list(card.items.order_by("name", "code")) if card else []


def _offer_form(service_request: ServiceRequest, data=None) -> OfferForm:
    equipment = list(service_request.equipment.all())
    tz = ZoneInfo(service_request.hub.timezone)
    start = service_request.preferred_start.astimezone(tz).replace(tzinfo=None)
    end = service_request.preferred_end.astimezone(tz).replace(tzinfo=None)
    initial = {f"{edge}_{piece.pk}": value for piece in equipment
               for edge, value in (("start", start), ("end", end))}
    return OfferForm(data, equipment=equipment, items=_items(service_request), initial=initial)


def _page(request, service_request, *, offer_form=None, refuse_form=None, status=200):
    return render(request, "billing/requests/console/detail.html", {
        "sr": service_request, "hub": service_request.hub,
        "lines": selectors.offer_lines(service_request), "offer": service_request.offer,
        "answerable": service_request.status == WAITING,
        "open": service_request.status in ServiceRequest.OPEN,
        "offer_form": offer_form or _offer_form(service_request),
        "refuse_form": refuse_form or RefuseForm(),
        "booked": selectors.booked_split(service_request),
        "attachments": service_request.attachments.all()}, status=status)


@operator_required
def detail(request, pk: int):
    """GET: the request; POST: send the offer."""
    service_request = _request(request, pk)
    with timezone.override(ZoneInfo(service_request.hub.timezone)):
        if request.method != "POST":
            return _page(request, service_request)
        form = _offer_form(service_request, request.POST)
        if form.is_valid():
            try:
                services.send_offer(
                    request_id=service_request.pk, operator=request.organization,
                    periods=form.periods(), items=form.chosen_items(),
                    note=form.cleaned_data["note"], valid_until=form.cleaned_data["valid_until"],
                    by_user=request.user)
            except NotFound:
                raise Http404(_("No such service request.")) from None
            except DomainError as exc:
                add_errors(form, exc, rename={"periods": "__all__", "items": "__all__"})
            else:
                messages.success(request, _("The offer is sent to %(firm)s.")
                                 % {"firm": service_request.organization.name})
                return redirect("billing-console:request-detail", pk=service_request.pk)
        return _page(request, service_request, offer_form=form, status=400)


@operator_required
@require_POST
def refuse(request, pk: int):
    service_request = _request(request, pk)
    form = RefuseForm(request.POST)
    if form.is_valid():
        try:
            services.refuse_request(request_id=service_request.pk,
                                    operator=request.organization,
                                    reason=form.cleaned_data["reason"], by_user=request.user)
        except NotFound:
            raise Http404(_("No such service request.")) from None
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("The request is refused; the firm is told why."))
        return redirect("billing-console:request-detail", pk=service_request.pk)
    with timezone.override(ZoneInfo(service_request.hub.timezone)):
        return _page(request, service_request, refuse_form=form, status=400)
