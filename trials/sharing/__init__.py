"""Sharing trial results with partner universities: ``services`` (agreements, consent,
releases), ``selectors`` (reads) and ``delivery`` (the outbox's preparer for releases).
The names callers use are re-exported here."""

from .delivery import EVENT_TYPE, MAX_DELIVERY_ATTEMPTS
from .selectors import (
    active_agreements,
    agreements_visible_to,
    covers,
    is_active,
    may_consent,
    may_revoke,
    releases_for_university,
)
from .services import (
    HELD_FOR_CONSENT,
    create_agreement,
    grant_consent,
    retry_release,
    revoke_agreement,
    revoke_consent,
    revoke_standing_consent,
    schedule_due_releases,
    set_standing_consent,
    update_agreement,
)

__all__ = [
    "EVENT_TYPE", "HELD_FOR_CONSENT", "MAX_DELIVERY_ATTEMPTS", "active_agreements",
    "agreements_visible_to", "covers", "create_agreement", "grant_consent", "is_active",
    "may_consent", "may_revoke", "releases_for_university", "retry_release",
    "revoke_agreement", "revoke_consent", "revoke_standing_consent", "schedule_due_releases",
    "set_standing_consent", "update_agreement",
]
