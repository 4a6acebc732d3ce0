"""The SME's account pages beside its organisation page: the calendar subscription URL
(made and rotated through the feed code, ``bookings.feeds``) and the monthly statements
(the billing report's figures, ``reports.selectors.billing``, for this SME only, with a CSV
download through ``core.csv``). The organisation page loads this part (htmx) and links
here; the organisations app itself knows nothing of bookings."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from organizations.models import Organization
from organizations.portal import is_admin, sme_required

from .. import services
from ..models import CalendarFeed
from ..reports import selectors as reports

MONTHS_LISTED = 12


def live_feed(organization: Organization) -> CalendarFeed | None:
    """The organisation's newest working organisation-wide feed."""
    return (
        CalendarFeed.objects.filter(
            organization=organization, equipment__isnull=True, revoked_at__isnull=True
        )
        .order_by("-created")
        .first()
    )


def statement(organization: Organization, month: date) -> reports.SmeBill | None:
    """The SME's statement for ``month``: its lines of the billing report (every hub, each
    in its own calendar month) and their totals; None when it owes nothing that month."""
    lines = [
        line
        for line in reports.billing(operator=reports.ALL_HUBS, month=month)
        if line.organization == organization.slug
    ]
    bills = reports.by_sme(lines)
    return bills[0] if bills else None


def _months(today: date) -> list[date]:
    first = today.replace(day=1)
    months = []
    for _i in range(MONTHS_LISTED):
        months.append(first)
        first = (first.replace(day=1) - timedelta(days=1)).replace(day=1)
    return months


def _month(value: str | None, today: date) -> date:
    """The month asked for (the years ``statement_csv`` serves), else this month."""
    with contextlib.suppress(TypeError, ValueError):  # not a month: this month, then
        year, month = (int(part) for part in (value or "").split("-"))
        if 2000 <= year <= 2999:
            return date(year, month, 1)
    return today.replace(day=1)


@sme_required
def statements(request):
    """Calendar feed and monthly statements (a whole page, or the part the organisation
    page loads with htmx)."""
    today = timezone.localdate()
    month = _month(request.GET.get("month"), today)
    feed = live_feed(request.organization)
    context = {
        "organization": request.organization,
        "is_admin": is_admin(request),
        "feed": feed,
        "feed_url": request.build_absolute_uri(f"/calendar/{feed.token}.ics") if feed else "",
        "months": _months(today),
        "month": month,
        "bill": statement(request.organization, month),
        "currency": reports.CURRENCY,
    }
    partial = request.htmx and not request.htmx.history_restore_request
    return render(
        request, "bookings/_account.html" if partial else "bookings/account.html", context
    )


@sme_required
@require_POST
def calendar_feed(request):
    """An administrator makes (or renews) the organisation's calendar subscription URL."""
    renewed = live_feed(request.organization) is not None
    try:
        services.rotate_organization_feed(organization=request.organization, by_user=request.user)
    except DomainError:
        messages.error(
            request, _("Only your organisation's administrators manage the calendar subscription.")
        )
        return redirect("bookings:statements")
    messages.success(
        request,
        _("A new calendar URL is made; the previous one no longer works.")
        if renewed
        else _("Your calendar URL is ready."),
    )
    return redirect("bookings:statements")


@sme_required
def statement_csv(request, year: int, month: int):
    if not (1 <= month <= 12 and 2000 <= year <= 2999):
        raise Http404("No such month.")
    first = date(year, month, 1)
    bill = statement(request.organization, first)
    body = reports.billing_csv(bill.lines if bill else [], first)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="statement-{request.organization.slug}-{first:%Y-%m}.csv"'
    )
    return response
