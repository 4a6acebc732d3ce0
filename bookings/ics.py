"""A booking as an iCalendar file (RFC 5545), for the SME's own calendar.

Times carry the hub's time zone (with its VTIMEZONE), so the event lands at the right
hour wherever the reader is. A cancelled, rejected or missed booking is STATUS:CANCELLED;
SEQUENCE counts the booking's status changes so calendar programs replace older copies."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from .models import Booking

S = Booking.Status
ICS_STATUS = {
    S.REQUESTED: "TENTATIVE",
    S.CONFIRMED: "CONFIRMED",
    S.CHECKED_IN: "CONFIRMED",
    S.COMPLETED: "CONFIRMED",
    S.CANCELLED: "CANCELLED",
    S.REJECTED: "CANCELLED",
    S.NO_SHOW: "CANCELLED",
}
PRODID = "-//Testbed//SME portal//EN"


def booking_ics(booking: Booking, *, url: str, sequence: int, now: datetime) -> bytes:
    """``booking`` with its equipment and hub loaded; ``url`` its page in the portal."""
    equipment, hub = booking.equipment, booking.equipment.hub
    tz = ZoneInfo(hub.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"booking-{booking.pk}@testbed")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(tz))
    event.add("dtend", booking.end.astimezone(tz))
    event.add("summary", _("Trial on %(equipment)s (booking #%(id)s)")
              % {"equipment": equipment.name, "id": booking.pk})
    event.add("location", ", ".join(p for p in (hub.name, hub.address) if p))
    event.add("description", booking.purpose)
    event.add("status", ICS_STATUS.get(booking.status, "CONFIRMED"))
    event.add("sequence", sequence)
    event.add("url", url)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
