"""Reads of calendar feeds: the live feed of a token and the bookings it shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, QuerySet

from ..models import Booking, CalendarFeed
from ..selectors import bookings_visible_to

PAST = timedelta(days=90)  # how far back a feed reaches
MAX_EVENTS = 2000


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
