"""Portal pages of service requests (SME side): the list, a new request (hub, equipment,
plan, preferred dates, files), and a request's page (its offer with a voucher preview,
accept with a grant, decline, withdraw, attach files). Parse, call the service or
selector, render: the rules are the service's, its refusals shown in its own words."""

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

from billing.models import ServiceRequest, ServiceRequestAttachment
from core.errors import DomainError, NotFound, error_text, valid_id
from core.files import file_response
from core.forms import add_errors
from organizations.portal import member_required, not_found_as_404, sme_required
from pricing.models import Quote

from . import selectors, services
from .forms import AcceptForm, AttachmentForm, HubChoiceForm, ReasonForm, RequestForm

PAGE = 20


def _own(request, pk: int) -> ServiceRequest:
    with not_found_as_404():
        return selectors.request_for(request.organization, pk)


@sme_required
def request_list(request):
    requests = selectors.requests_visible_to(request.organization).order_by("-created", "-pk")
    status = request.GET.get("status")
    if status in ServiceRequest.Status.values:
        requests = requests.filter(status=status)
    page = Paginator(requests, PAGE).get_page(request.GET.get("page"))
    return render(request, "billing/requests/list.html", {
        "page": page, "status": status, "statuses": ServiceRequest.Status.choices,
        "query": urlencode({"status": status}) if status else ""})


@sme_required
def request_new(request):
    """Step 1 (no hub yet): choose the hub; step 2: the request at that hub."""
    hubs = selectors.hubs_for_requests()
    chooser = HubChoiceForm(request.GET or None, hubs=hubs)
    hub = chooser.cleaned_data["hub"] if chooser.is_bound and chooser.is_valid() else None
    if hub is None:
        return render(request, "billing/requests/new.html", {"chooser": chooser, "hub": None})
    equipment = selectors.requestable_equipment(hub)
    with timezone.override(ZoneInfo(hub.timezone)):  # wall-clock times of the hub
        initial = {"equipment": [e for e in equipment
                                 if str(e.pk) in request.GET.getlist("equipment")]}
        form = RequestForm(request.POST or None, request.FILES or None, equipment=equipment,
                           initial=initial)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                made = services.submit_request(
                    organization=request.organization, hub_id=hub.pk, title=d["title"],
                    plan=d["plan"], equipment_ids=[e.pk for e in d["equipment"]],
                    preferred_start=d["preferred_start"], preferred_end=d["preferred_end"],
                    uploads=d["attachments"], by_user=request.user)
            except DomainError as exc:
                add_errors(form, exc, rename={"file": "attachments"})
            else:
                messages.success(request, _("Your request is sent to %(hub)s; we e-mail you "
                                            "their offer.") % {"hub": hub.name})
                return redirect("billing:request-detail", pk=made.pk)
        return render(request, "billing/requests/new.html", {
            "chooser": chooser, "hub": hub, "form": form,
            "max_equipment": services.MAX_EQUIPMENT}, status=400 if form.errors else 200)


def _detail_context(request, service_request: ServiceRequest, **forms) -> dict:
    grants = selectors.usable_grants(request.organization)
    accept_form = forms.get("accept_form") or AcceptForm(request.GET or None, grants=grants)
    preview = None
    if service_request.status == ServiceRequest.Status.QUOTED and accept_form.is_bound \
            and not accept_form.errors and accept_form.cleaned_data.get("grant"):
        preview = selectors.voucher_preview(service_request, accept_form.cleaned_data["grant"])
    offer = service_request.offer
    return {
        "sr": service_request, "hub": service_request.hub,
        "lines": selectors.offer_lines(service_request), "offer": offer,
        "preview": preview, "accept_form": accept_form, "grants": grants,
        "reason_form": forms.get("reason_form") or ReasonForm(),
        "attachment_form": forms.get("attachment_form")
        or AttachmentForm(), "open": service_request.status in ServiceRequest.OPEN,
        "offer_open": service_request.status == ServiceRequest.Status.QUOTED,
        "booked": selectors.booked_split(service_request),
        "attachments": service_request.attachments.all()}


@sme_required
def request_detail(request, pk: int):
    service_request = _own(request, pk)
    return render(request, "billing/requests/detail.html",
                  _detail_context(request, service_request))


@sme_required
@require_POST
def request_accept(request, pk: int):
    service_request = _own(request, pk)
    form = AcceptForm(request.POST, grants=selectors.usable_grants(request.organization))
    if "preview" in request.POST:  # the panel's "Preview" button: show the split, book nothing
        return render(request, "billing/requests/detail.html",
                      _detail_context(request, service_request, accept_form=form),
                      status=200 if form.is_valid() else 400)
    if form.is_valid():
        grant = form.cleaned_data.get("grant")
        try:
            bookings = services.accept_offer(
                request_id=service_request.pk, organization=request.organization,
                grant_id=grant.pk if grant else None,
                shortfall=form.cleaned_data["shortfall"] or Quote.Shortfall.SME_PAYS,
                by_user=request.user)
        except NotFound:
            raise Http404(_("No such service request.")) from None
        except DomainError as exc:
            add_errors(form, exc, rename={"voucher_grant": "grant",
                                          "if_voucher_short": "shortfall"})
        else:
            messages.success(request, _("Offer accepted: %(count)d bookings made.")
                             % {"count": len(bookings)})
            return redirect("billing:request-detail", pk=service_request.pk)
    return render(request, "billing/requests/detail.html",
                  _detail_context(request, service_request, accept_form=form), status=409
                  if form.non_field_errors() else 400)


def _close(request, pk: int, service, done: str):
    service_request = _own(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():  # the reason as given is refused: nothing is closed
        return render(request, "billing/requests/detail.html",
                      _detail_context(request, service_request, reason_form=form), status=400)
    try:
        service(request_id=service_request.pk, organization=request.organization,
                reason=form.cleaned_data["reason"], by_user=request.user)
    except NotFound:
        raise Http404(_("No such service request.")) from None
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect("billing:request-detail", pk=service_request.pk)


@sme_required
@require_POST
def request_decline(request, pk: int):
    return _close(request, pk, services.decline_offer, _("You declined the offer."))


@sme_required
@require_POST
def request_withdraw(request, pk: int):
    return _close(request, pk, services.withdraw_request, _("Your request is withdrawn."))


@sme_required
@require_POST
def request_attach(request, pk: int):
    service_request = _own(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment = services.attach_file(
                request_id=service_request.pk, organization=request.organization,
                upload=form.cleaned_data["file"], by_user=request.user)
        except NotFound:
            raise Http404(_("No such service request.")) from None
        except DomainError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is attached.") % {"name": attachment.name})
            return redirect("billing:request-detail", pk=service_request.pk)
    return render(request, "billing/requests/detail.html",
                  _detail_context(request, service_request, attachment_form=form), status=400)


@member_required
def attachment_file(request, pk: int, attachment_pk: int):
    """A request's file, for the SME that asked and the hub's operator (anyone else: 404),
    as a download only."""
    with not_found_as_404():
        service_request = selectors.request_for(request.organization, pk)
    attachment = ServiceRequestAttachment.objects.filter(
        request=service_request, pk=valid_id(attachment_pk)).first()
    if attachment is None:
        raise Http404(_("No such attachment."))
    return file_response(attachment.file, filename=attachment.name,
                         content_type="application/octet-stream", missing="No such attachment.")
