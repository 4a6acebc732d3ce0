"""Bookings as iCalendar (RFC 5545): the subscription feeds by secret token, and one
booking's .ics file for the SME's own calendar.

An SME's feed holds its own bookings; an operator's holds every booking on its hubs,
or on one piece of equipment. Times carry the hub's time zone with its VTIMEZONE, so an
event lands at the right hour wherever the reader is; cancelled, rejected and missed
bookings stay as STATUS:CANCELLED so that subscribed calendars remove them, and SEQUENCE
counts the booking's status changes so calendar programs replace older copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from organizations.models import Organization

from ..models import Booking, CalendarFeed
from .selectors import feed_bookings

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


def _calendar() -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    return calendar


def booking_event(booking: Booking, *, sequence: int, now: datetime, summary: str,
                  description: str = "", url: str = "") -> Event:
    """One booking as a VEVENT in its hub's time zone (the single place that says how)."""
    hub = booking.equipment.hub
    tz = ZoneInfo(hub.timezone)
    event = Event()
    event.add("uid", f"booking-{booking.pk}@testbed")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("last-modified", booking.updated.astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(tz))
    event.add("dtend", booking.end.astimezone(tz))
    event.add("summary", summary)
    event.add("location", ", ".join(p for p in (hub.name, hub.address) if p))
    if description:
        event.add("description", description)
    event.add("status", ICS_STATUS.get(booking.status, "CONFIRMED"))
    event.add("sequence", sequence)
    if url:
        event.add("url", url)
    return event


def booking_ics(booking: Booking, *, url: str, sequence: int, now: datetime) -> bytes:
    """``booking`` with its equipment and hub loaded; ``url`` its page in the portal."""
    calendar = _calendar()
    calendar.add_component(booking_event(
        booking, sequence=sequence, now=now, url=url, description=booking.purpose,
        summary=_("Trial on %(equipment)s (booking #%(id)s)")
        % {"equipment": booking.equipment.name, "id": booking.pk}))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def render_feed(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    """The feed's calendar, in the feed's language (else the one the client asks for)."""
    with translation.override(feed.language or translation.get_language()):
        return _feed_calendar(feed, now or timezone.now())


def _feed_calendar(feed: CalendarFeed, now: datetime) -> bytes:
    operator = feed.organization.kind == Organization.Kind.FLAGSHIP
    calendar = _calendar()
    calendar.add("x-wr-calname", feed.name or f"Testbed: {feed.equipment or feed.organization}")
    # How often clients should poll (RFC 7986; Outlook reads X-PUBLISHED-TTL).
    calendar.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")
    for booking in feed_bookings(feed, now):
        who = f" — {booking.organization.name}" if operator else ""
        calendar.add_component(booking_event(
            booking, sequence=max(booking.changes - 1, 0), now=now,
            summary=f"{booking.equipment.name}{who} (#{booking.pk})",
            description=booking.purpose))
    calendar.add_missing_timezones()
    return calendar.to_ical()
