"""The SME's account pages beside its organisation page: the calendar subscription URL
(made and rotated through the feed code, ``bookings.feeds``) and a link to the monthly
statements, which live with the money (``billing.statements``, a layer above bookings:
linked by URL name, never imported). The organisation page loads this part (htmx) and
links here; the organisations app itself knows nothing of bookings."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from organizations.models import Organization
from organizations.portal import is_admin, sme_required

from .. import services
from ..models import CalendarFeed


def live_feed(organization: Organization) -> CalendarFeed | None:
    """The organisation's newest working organisation-wide feed."""
    return (
        CalendarFeed.objects.filter(
            organization=organization, equipment__isnull=True, revoked_at__isnull=True
        )
        .order_by("-created")
        .first()
    )


@sme_required
def statements(request):
    """Calendar feed and the way to the monthly statements (a whole page, or the part the
    organisation page loads with htmx)."""
    feed = live_feed(request.organization)
    context = {
        "organization": request.organization,
        "is_admin": is_admin(request),
        "feed": feed,
        "feed_url": request.build_absolute_uri(f"/calendar/{feed.token}.ics") if feed else "",
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
    """The old address of a month's statement CSV: statements are now the hubs' own
    documents, listed (per month) on the statements page."""
    if not (1 <= month <= 12 and 2000 <= year <= 2999):
        raise Http404("No such month.")
    return redirect(f"{reverse('billing:statements')}?month={year:04d}-{month:02d}")
