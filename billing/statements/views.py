"""Statement pages: the SME's (portal: its statements, what is not yet stated, downloads)
and the operator's (console: statements issued, issuing a month after a preview,
downloads). Thin: selectors and the service do the work; another organisation's
statement is a 404."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from billing.models import Statement, StatementLine
from core.errors import DomainError, error_text
from core.forms import parse_month

# The console's gate (billing sits below the console, so it may not import console.access).
from organizations.portal import operator_required, sme_required

from . import builder, documents, report, selectors, services

MONTHS_LISTED = 12


def _months(today: date, count: int = MONTHS_LISTED) -> list[date]:
    first, months = today.replace(day=1), []
    for _i in range(count):
        months.append(first)
        first = builder.month_start(first - timedelta(days=1))
    return months


def _chosen_month(value: str | None, default: date) -> date:
    return parse_month(value) or default


def _statement(request, pk) -> Statement:
    try:
        return selectors.statement_for(request.organization, pk)
    except DomainError:
        raise Http404(_("No such statement.")) from None


def _download(body, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _pdf(request, pk):
    statement = _statement(request, pk)
    language = documents.language_or_default(request.GET.get("lang"), get_language())
    return _download(documents.statement_pdf(statement, language), "application/pdf",
                     documents.filename(statement, "pdf", language))


def _csv(request, pk):
    statement = _statement(request, pk)
    return _download(documents.statement_csv(statement), "text/csv; charset=utf-8",
                     documents.filename(statement, "csv"))


def _list_context(request, query) -> dict:
    months = _months(timezone.localdate(), 24)
    month = parse_month(request.GET.get("month"))
    if month is not None:
        query = query.filter(month=month)
    return {"statements": query.order_by("-month", "operator__name", "number"),
            "months": months, "month": month}


# --- portal (SME) -----------------------------------------------------------------------

@sme_required
def statement_list(request):
    """The SME's statements, and what its hubs will state next (this month and last)."""
    context = _list_context(request, selectors.statements_visible_to(request.organization))
    today = timezone.localdate()
    context["pending"] = [
        (month, report.billing(operator=report.ALL_OPERATORS, month=month,
                               organization=request.organization))
        for month in (builder.month_start(today), _months(today, 2)[1])]
    return render(request, "billing/statements/list.html", context)


@sme_required
def statement_detail(request, pk: int):
    statement = _statement(request, pk)
    return render(request, "billing/statements/detail.html",
                  {**documents.context(statement), "console": False})


@sme_required
def statement_pdf(request, pk: int):
    return _pdf(request, pk)


@sme_required
def statement_csv(request, pk: int):
    return _csv(request, pk)


# --- console (operators) ---------------------------------------------------------------

@operator_required
def console_list(request):
    context = _list_context(request, selectors.statements_visible_to(request.organization))
    return render(request, "billing/statements/console_list.html", context)


@operator_required
def console_detail(request, pk: int):
    statement = _statement(request, pk)
    return render(request, "billing/statements/detail.html",
                  {**documents.context(statement), "console": True})


@operator_required
def console_pdf(request, pk: int):
    return _pdf(request, pk)


@operator_required
def console_csv(request, pk: int):
    return _csv(request, pk)


@operator_required
def console_issue(request):
    """GET: the month's pending lines per SME (a preview); POST: issue them."""
    today = timezone.localdate()
    default = _months(today, 2)[1]
    if request.method == "POST":
        month = parse_month(request.POST.get("month"))
        if month is None:
            messages.error(request, _("Give the month as YYYY-MM, e.g. 2026-11."))
            return redirect("billing-console:statement-issue")
        try:
            issued = services.issue_statements(operator=request.organization, month=month,
                                               by_user=request.user)
        except DomainError as exc:
            messages.error(request, error_text(exc))
            return redirect(f"{_issue_url()}?month={month:%Y-%m}")
        if issued:
            messages.success(request, ngettext("%(count)d statement issued.",
                                               "%(count)d statements issued.",
                                               len(issued)) % {"count": len(issued)})
        else:
            messages.info(request, _("Nothing to state: no statement was issued."))
        return redirect(f"{_list_url()}?month={month:%Y-%m}")
    month = _chosen_month(request.GET.get("month"), default)
    preview = []
    lines = builder.pending_lines(operator=request.organization, month=month)
    for charges in builder.by_organization(lines).values():
        total, voucher, sme = builder.totals(charges)
        preview.append({"organization": charges[0].booking.organization,
                        "rows": [(c, _describe(c)) for c in charges],
                        "total": total, "voucher": voucher, "sme": sme})
    return render(request, "billing/statements/console_issue.html", {
        "month": month, "months": _months(today), "preview": preview,
        "future": month > today.replace(day=1),
        "total": sum((p["total"] for p in preview), builder.ZERO),
    })


def _describe(charge: builder.Charge) -> str:
    line = StatementLine(
        kind=charge.kind, line_kind=charge.line_kind, quote_line=charge.quote_line,
        booking=charge.booking)
    return documents.describe(line)


def _issue_url() -> str:
    return reverse("billing-console:statement-issue")


def _list_url() -> str:
    return reverse("billing-console:statements")
