"""Calendar feeds' use cases: make a subscription URL (a secret token), revoke it."""

from __future__ import annotations

import secrets

from django.utils import timezone, translation

from equipment.errors import EQUIPMENT_NOT_FOUND
from equipment.models import Equipment
from organizations.models import Organization

from ..errors import EQUIPMENT_FEED_NOT_OPERATOR
from ..models import CalendarFeed


def create_feed(*, organization: Organization, equipment_id: int | None = None,
                name: str = "", language: str | None = None) -> CalendarFeed:
    """A new feed, its texts in ``language`` (default: the active one, the language of the
    page or API call that makes it)."""
    equipment = None
    if equipment_id is not None:
        if organization.kind != Organization.Kind.FLAGSHIP:
            raise EQUIPMENT_FEED_NOT_OPERATOR.error()
        equipment = Equipment.objects.filter(pk=equipment_id,
                                             hub__operator=organization).first()
        if equipment is None:
            raise EQUIPMENT_NOT_FOUND.error()
    language = translation.get_language() if language is None else language
    return CalendarFeed.objects.create(organization=organization, equipment=equipment,
                                       name=name, token=secrets.token_urlsafe(32),
                                       language=language or "")


def revoke_feed(*, feed: CalendarFeed) -> None:
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
