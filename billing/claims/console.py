"""The operators' settlement-claim pages under /console/ (namespace ``billing-console``):
claims list with a draft form (programme × month), a claim's lines with its evidence
download and submit / reopen, and the voucher-use report with its CSV. Writes go through
``billing.claims.services``."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors
from organizations.portal import operator_required

from ..models import SettlementClaim
from . import evidence, reports, selectors, services
from .forms import ClaimDraftForm, VoucherReportForm

S = SettlementClaim.Status
# The badge (templates' status colours) of each claim status.
BADGES = {S.DRAFT: "pending", S.SUBMITTED: "requested", S.APPROVED: "confirmed",
          S.PAID: "completed", S.REJECTED: "rejected"}


def _badged(claims):
    for claim in claims:
        claim.badge = BADGES.get(claim.status, "pending")
    return claims


def _draft_form(request, data=None) -> ClaimDraftForm:
    return ClaimDraftForm(data, programmes=selectors.programmes_for_provider(
        request.organization))


def _list(request, form, status=200):
    claims = _badged(list(selectors.claims_visible_to(request.organization)
                          .order_by("-month", "programme__reference", "number", "pk")))
    return render(request, "billing/claims/console/claim_list.html",
                  {"claims": claims, "form": form}, status=status)


@operator_required
def claim_list(request):
    return _list(request, _draft_form(request))


@operator_required
@require_POST
def claim_draft(request):
    form = _draft_form(request, request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    try:
        claim, created = services.draft_claim(
            provider=request.organization, programme_id=form.cleaned_data["programme"].pk,
            month=form.cleaned_data["month"], by_user=request.user)
    except ValidationFailed as exc:
        add_errors(form, exc)
        return _list(request, form, status=400)
    except DomainError as exc:
        add_errors(form, exc)
        return _list(request, form, status=exc.status)
    if not created:
        done = _("The draft's lines are refreshed.")
    elif claim.is_supplementary:
        done = _("The month's claim is already submitted: this supplementary claim collects "
                 "the bookings completed since. Check its lines, then submit it.")
    else:
        done = _("The draft claim is ready: check its lines, then submit it.")
    messages.success(request, done)
    return redirect("billing-console:claim", pk=claim.pk)


@operator_required
def claim_detail(request, pk: int):
    claim = _claim(request, pk)
    refresh = {"programme": claim.programme_id, "month": f"{claim.month:%Y-%m}"}
    return render(request, "billing/claims/console/claim_detail.html", {
        "claim": _badged([claim])[0], "lines": list(claim.lines.all()), "refresh": refresh})


def _claim(request, pk):
    try:
        return selectors.claim_for(request.organization, pk)
    except DomainError as exc:  # another operator's claim, or none: "not found"
        raise Http404(exc.message) from None


def _move(request, pk: int, service, done: str):
    claim = _claim(request, pk)
    try:
        service(claim_id=claim.pk, provider=request.organization, by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect("billing-console:claim", pk=claim.pk)


@operator_required
@require_POST
def claim_submit(request, pk: int):
    return _move(request, pk, services.submit_claim,
                 _("The claim is submitted to the programme office."))


@operator_required
@require_POST
def claim_reopen(request, pk: int):
    return _move(request, pk, services.reopen_claim,
                 _("The claim is a draft again: refresh its lines and submit it."))


@operator_required
def claim_evidence(request, pk: int):
    return evidence.bundle_response(_claim(request, pk))


@operator_required
def voucher_report(request):
    """``?export=csv`` downloads the figures shown."""
    form = VoucherReportForm.for_query(request.GET)
    context = {"form": form, "report": None}
    if not form.is_valid():
        return render(request, "billing/claims/console/voucher_report.html", context,
                      status=400)
    start, end = form.period()
    try:
        report = reports.voucher_use(actor=request.organization, start=start, end=end)
    except ValidationFailed as exc:
        add_errors(form, exc)
        return render(request, "billing/claims/console/voucher_report.html", context,
                      status=400)
    first, last = form.cleaned_data["start"], form.cleaned_data["end"]
    if request.GET.get("export") == "csv":
        response = HttpResponse(reports.voucher_use_csv(report),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="voucher-use-{first:%Y%m%d}-{last:%Y%m%d}.csv"')
        return response
    context.update({"report": report, "first": first, "last": last,
                    "csv_url": "?" + urlencode({"start": f"{first:%Y-%m-%d}",
                                                "end": f"{last:%Y-%m-%d}", "export": "csv"})})
    return render(request, "billing/claims/console/voucher_report.html", context)
