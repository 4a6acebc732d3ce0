"""What the floor pages share: the operator's booking (another operator's is a 404), where
to go back to after an action, what a booking's page may offer now, and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from bookings.models import Booking
from bookings.selectors import booking_for, no_show_grace
from organizations.portal import not_found_as_404

S = Booking.Status


def operator_booking(request, pk: int) -> Booking:
    """A booking at one of the acting operator's hubs; anything else is the 404 page."""
    with not_found_as_404():
        return booking_for(request.organization, pk)


def back_to(request, default: str) -> str:
    """Where an action returns to: the page it was sent from (``next``, a path on this
    site only: ``redirect`` would take a bare word for a view name), else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@dataclass(frozen=True)
class FloorMoves:
    """What the booking's page offers now. Presentation only: the services decide (and
    refuse with their own words when the moment has not come)."""

    approve: bool
    check_in: bool
    check_in_opens: datetime | None  # the check-in is not open yet: it opens then
    complete: bool
    no_show: bool
    no_show_from: datetime | None  # a no-show may be recorded from then


def floor_moves(booking: Booking, now: datetime) -> FloorMoves:
    opens = booking.start - timedelta(minutes=settings.BOOKING_CHECK_IN_OPENS_MINUTES)
    no_show_from = booking.start + no_show_grace()
    confirmed = booking.status == S.CONFIRMED
    return FloorMoves(
        approve=booking.status == S.REQUESTED,
        check_in=confirmed and now >= opens,
        check_in_opens=opens if confirmed and now < opens else None,
        complete=booking.status == S.CHECKED_IN,
        no_show=confirmed and now >= no_show_from,
        no_show_from=no_show_from if confirmed and now < no_show_from else None,
    )


def history(booking: Booking) -> list[dict]:
    """The booking's status changes with who made each: a person by e-mail, else the
    organisation, else the system."""
    labels = dict(S.choices)
    rows = []
    for event in booking.events.select_related("actor_user", "actor_organization"):
        if event.actor_user is not None:
            by = event.actor_user.email
        elif event.actor_organization is not None:
            by = event.actor_organization.name
        else:
            by = _("Testbed (automatic)")
        rows.append(
            {
                "event": event,
                "from": labels.get(event.from_status, ""),
                "to": labels.get(event.to_status, event.to_status),
                "by": by,
            }
        )
    return rows
