"""Portal pages for booking: the catalog search (with free time), an equipment's week,
the booking form, the SME's bookings with their history, cancellation and .ics export.

Views parse, make one service or selector call and render; the rules are the booking
service's, its refusals shown in plain words next to the fields they concern."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound, error_text
from core.forms import add_errors
from equipment import selectors as catalog_selectors
from equipment import wording
from equipment.models import Equipment
from organizations.portal import member_required, not_found_as_404, sme_required
from organizations.selectors import members_of

from .. import services
from ..feeds.ics import booking_ics
from ..forms import LOCAL_FORMATS, BookingForm, CancelForm, CatalogSearchForm
from ..models import Booking
from ..reports.selectors import usage
from ..selectors import booking_for, bookings_visible_to, free_intervals
from .finder import free_between
from .week import DAYS, build_week, week_bounds

CATALOG_PAGE = 24
BOOKINGS_PAGE = 20


@member_required
def catalog(request):
    form = CatalogSearchForm(request.GET or None)
    equipment = catalog_selectors.equipment_list().exclude(status=Equipment.Status.RETIRED)
    data = {}
    if form.is_bound:
        form.is_valid()  # errors are shown; the filters that are valid still apply
        data = form.cleaned_data
    if data.get("q"):
        equipment = catalog_selectors.search_equipment(equipment, data["q"])
    for field in ("category", "hub"):
        if data.get(field):
            equipment = equipment.filter(**{field: data[field]})
    if data.get("capability"):
        equipment = equipment.filter(capabilities=data["capability"]).distinct()
    context = {"form": form, "window": form.window, "query": _query_without_page(request)}
    if form.window:
        context["free"] = free_between(equipment, *form.window,
                                       organization=request.organization)
    else:
        context["page"] = Paginator(equipment, CATALOG_PAGE).get_page(request.GET.get("page"))
    return render(request, "bookings/catalog.html", context)


def _query_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _equipment_or_404(pk: int) -> Equipment:
    equipment = catalog_selectors.equipment_list().filter(pk=pk).first()
    if equipment is None:
        raise Http404("No such equipment.")
    return equipment


def _first_day(value: str | None, today: date, last: date) -> date:
    """The first of the seven days asked for: today at the earliest, and no later than the
    last day that can be booked."""
    try:
        asked = date.fromisoformat(value) if value else today
    except ValueError:
        asked = today
    return min(max(asked, today), last)


@member_required
def calendar(request, pk: int):
    equipment = _equipment_or_404(pk)
    tz = ZoneInfo(equipment.hub.timezone)
    now = timezone.now()
    today = now.astimezone(tz).date()
    last = (now + timedelta(days=equipment.booking_horizon)).astimezone(tz).date()
    first = _first_day(request.GET.get("from"), today, last)
    start, end = week_bounds(first, tz)
    free = free_intervals(equipment=equipment, start=start, end=end,
                          organization=request.organization, now=now)
    week = build_week(equipment=equipment, first_day=first, free=free, now=now)
    context = {"equipment": equipment, "hub": equipment.hub, "week": week,
               "previous": max(first - timedelta(days=DAYS), today) if first > today else None,
               "next": min(first + timedelta(days=DAYS), last) if first < last else None}
    return _render_part(request, "bookings/_week.html", "bookings/calendar.html", context)


def _render_part(request, part: str, page: str, context: dict):
    """The part an htmx request swaps in, or the whole page (a normal visit, or htmx
    restoring history)."""
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, part if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _local_initial(value: str | None) -> datetime | None:
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(value or "", fmt)
        except ValueError:
            continue
    return None


@sme_required
def book(request, pk: int):
    equipment = _equipment_or_404(pk)
    tz = ZoneInfo(equipment.hub.timezone)
    members = list(members_of(organization=request.organization))
    with timezone.override(tz):  # the form reads and shows wall-clock times of the hub
        initial = {"start": _local_initial(request.GET.get("start")),
                   "end": _local_initial(request.GET.get("end")),
                   "trial_lead": request.user.email}
        data = request.POST if request.method == "POST" else None
        form = BookingForm(data, initial=initial, equipment=equipment, members=members)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                booking = services.create_booking(
                    equipment_id=equipment.pk, organization=request.organization,
                    start=d["start"], end=d["end"], purpose=d["purpose"], by_user=request.user,
                    trial_lead_email=d["trial_lead"] or None)
            except DomainError as exc:  # broken rules, slot taken (409), busy, not an SME
                add_errors(form, exc)
            else:
                messages.success(request, _(
                    "Booking requested: the hub operator will confirm it.")
                    if booking.status == Booking.Status.REQUESTED else _("Booking confirmed."))
                return redirect("bookings:detail", pk=booking.pk)
        return _render_part(request, "bookings/_booking_form.html", "bookings/book.html", {
            "equipment": equipment, "hub": equipment.hub, "form": form,
            "rules": wording.rules(equipment)})


@sme_required
def my_bookings(request):
    past = request.GET.get("when") == "past"
    now = timezone.now()
    bookings = bookings_visible_to(request.organization)
    bookings = (bookings.filter(end__lte=now).order_by("-start", "-pk") if past
                else bookings.filter(end__gt=now).order_by("start", "pk"))
    page = Paginator(bookings, BOOKINGS_PAGE).get_page(request.GET.get("page"))
    return render(request, "bookings/my_bookings.html", {
        "page": page, "past": past, "query": _query_without_page(request)})


def _own_booking(request, pk: int) -> Booking:
    with not_found_as_404():
        return booking_for(request.organization, pk)


def _history(booking: Booking) -> list[dict]:
    """The booking's status changes, each with who made it: a colleague by e-mail, the hub
    operator by organisation, or the system."""
    labels = dict(Booking.Status.choices)
    rows = []
    for event in booking.events.select_related("actor_user", "actor_organization"):
        if event.actor_organization_id == booking.organization_id and event.actor_user:
            by = event.actor_user.email
        elif event.actor_organization_id == booking.organization_id:
            by = booking.organization.name
        elif event.actor_organization is not None:
            by = _("%(name)s (hub operator)") % {"name": event.actor_organization.name}
        else:
            by = _("Testbed (automatic)")
        rows.append({"event": event, "from": labels.get(event.from_status, ""),
                     "to": labels.get(event.to_status, event.to_status), "by": by})
    return rows


@sme_required
def booking_detail(request, pk: int):
    booking = _own_booking(request, pk)
    cancellable = (booking.status, Booking.Status.CANCELLED) in services.TRANSITIONS
    return render(request, "bookings/booking_detail.html", {
        "booking": booking, "history": _history(booking), "hub": booking.equipment.hub,
        "cancellable": cancellable, "cancel_form": CancelForm(), "usage": usage(booking)})


@sme_required
@require_POST
def cancel(request, pk: int):
    booking = _own_booking(request, pk)
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.cancel_booking(booking_id=booking.pk, organization=request.organization,
                                reason=reason, by_user=request.user)
    except NotFound:
        raise Http404("No such booking.") from None
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Booking #%(id)s is cancelled.") % {"id": booking.pk})
    return redirect("bookings:detail", pk=booking.pk)


@sme_required
def booking_calendar_file(request, pk: int):
    booking = _own_booking(request, pk)
    url = request.build_absolute_uri(reverse("bookings:detail", args=[booking.pk]))
    body = booking_ics(booking, url=url, sequence=max(0, booking.events.count() - 1),
                       now=timezone.now())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="booking-{booking.pk}.ics"'
    return response
