"""The floor's pages: today (the console's home), the queue of requests, one booking, and
the no-shows. Reads only, through selectors that take the acting organisation."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from bookings.models import Booking
from bookings.selectors import (
    in_progress_at_hubs,
    no_show_candidates,
    no_show_grace,
    operator_bookings_between,
    requests_waiting,
)
from equipment.selectors import hubs_operated_by

from ..access import operator_required
from ..forms_floor import ApproveForm, FloorActionForm, RejectForm
from .common import floor_moves, history, operator_booking

S = Booking.Status
QUEUE_PAGE = 25
HOME_REQUESTS = 5
LIST_LIMIT = 200  # overdue arrivals shown at once (the sweep marks the rest)
def _with_moves(bookings, now: datetime) -> list[Booking]:
    bookings = list(bookings)
    for booking in bookings:
        booking.moves = floor_moves(booking, now)
    return bookings


def local_day(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The hub's calendar day around ``moment``: [local midnight, next local midnight)."""
    day = moment.astimezone(tz).date()
    return (
        datetime.combine(day, time.min, tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz),
    )


@operator_required
def home(request):
    """What needs the operator now: requests waiting, today's arrivals per equipment with
    their check-in, the trials running with their completion, and the overdue arrivals."""
    organization, now = request.organization, timezone.now()
    days = {
        hub.pk: local_day(now, ZoneInfo(hub.timezone)) for hub in hubs_operated_by(organization)
    }
    arriving: dict[int, dict] = {}
    if days:
        today = operator_bookings_between(
            organization,
            start=min(s for s, _e in days.values()),
            end=max(e for _s, e in days.values()),
        ).filter(status=S.CONFIRMED)
        grace = no_show_grace()
        for booking in _with_moves(today, now):
            start, end = days[booking.equipment.hub_id]
            if start <= booking.start < end and now < booking.start + grace:
                arriving.setdefault(
                    booking.equipment_id, {"equipment": booking.equipment, "bookings": []}
                )["bookings"].append(booking)
    waiting = requests_waiting(organization)
    return render(
        request,
        "console/floor/home.html",
        {
            "hubs": len(days),
            "waiting_count": waiting.count(),
            "waiting": list(waiting[:HOME_REQUESTS]),
            "arriving": sorted(arriving.values(), key=lambda row: row["equipment"].name),
            "running": _with_moves(in_progress_at_hubs(organization)[:LIST_LIMIT], now),
            "overdue": _with_moves(no_show_candidates(organization, now)[:LIST_LIMIT], now),
            "action_form": FloorActionForm(),
            "now": now,
        },
    )


@operator_required
def requests(request):
    """Bookings awaiting approval at the operator's hubs, oldest request first, each with
    approve (an optional note) and reject (a reason the SME reads)."""
    page = Paginator(requests_waiting(request.organization), QUEUE_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "console/floor/requests.html",
        {
            "page": page,
            "approve_form": ApproveForm(),
            "reject_form": RejectForm(),
        },
    )


def render_booking(
    request, booking: Booking, *, approve_form=None, reject_form=None, action_form=None
):
    """The operator's page of one booking; a form given is shown with its errors."""
    now = timezone.now()
    return render(
        request,
        "console/floor/booking.html",
        {
            "booking": booking,
            "hub": booking.equipment.hub,
            "history": history(booking),
            "moves": floor_moves(booking, now),
            "approve_form": approve_form or ApproveForm(),
            "reject_form": reject_form or RejectForm(),
            "action_form": action_form or FloorActionForm(),
        },
    )


@operator_required
def booking(request, pk: int):
    return render_booking(request, operator_booking(request, pk))


@operator_required
def no_shows(request):
    """Confirmed bookings whose start plus the grace has passed with nobody checked in:
    record the no-show, or check in a late arrival."""
    now = timezone.now()
    return render(
        request,
        "console/floor/no_shows.html",
        {
            "bookings": _with_moves(
                no_show_candidates(request.organization, now)[:LIST_LIMIT], now
            ),
            "grace_minutes": int(no_show_grace().total_seconds() // 60),
            "action_form": FloorActionForm(),
        },
    )
