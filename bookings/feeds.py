"""Calendar subscription feeds (RFC 5545) by secret token.

An SME's feed holds its own bookings; an operator's holds every booking on its hubs,
or on one piece of equipment. Times carry the hub's time zone with its VTIMEZONE;
cancelled, rejected and missed bookings stay in the feed as STATUS:CANCELLED so that
subscribed calendars remove them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet
from django.utils import timezone
from icalendar import Calendar, Event

from core.errors import Forbidden, NotFound
from equipment.models import Equipment
from organizations.models import Organization

from .ics import ICS_STATUS, PRODID
from .models import Booking, CalendarFeed
from .selectors import bookings_visible_to

PAST = timedelta(days=90)  # how far back a feed reaches
MAX_EVENTS = 2000


def create_feed(*, organization: Organization, equipment_id: int | None = None,
                name: str = "") -> CalendarFeed:
    equipment = None
    if equipment_id is not None:
        if organization.kind != Organization.Kind.FLAGSHIP:
            raise Forbidden("Equipment feeds are for the equipment's operator.",
                            code="not_operator")
        equipment = Equipment.objects.filter(pk=equipment_id,
                                             hub__operator=organization).first()
        if equipment is None:
            raise NotFound("No such equipment among yours.", code="equipment_not_found")
    return CalendarFeed.objects.create(organization=organization, equipment=equipment,
                                       name=name, token=secrets.token_urlsafe(32))


def revoke_feed(*, feed: CalendarFeed) -> None:
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])


def feed_by_token(token: str) -> CalendarFeed | None:
    """The live feed with this token; none for a revoked feed or while its organisation is
    suspended (a feed token is a credential, like the organisation's API keys)."""
    return (CalendarFeed.objects.select_related("organization", "equipment")
            .filter(token=token, revoked_at__isnull=True,
                    organization__suspended_at__isnull=True).first())


def feed_bookings(feed: CalendarFeed, now: datetime) -> QuerySet[Booking]:
    qs = bookings_visible_to(feed.organization).filter(end__gte=now - PAST)
    if feed.equipment_id:
        qs = qs.filter(equipment_id=feed.equipment_id)
    return (qs.annotate(changes=Count("events")).order_by("start")
            .select_related("equipment__hub", "organization")[:MAX_EVENTS])


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


def render_feed(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    operator = feed.organization.kind == Organization.Kind.FLAGSHIP
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
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
