"""The event types Testbed announces to operators' webhook endpoints.

Each app registers the event types it emits (``register`` at import of its notifications
module, which its AppConfig loads), with a description; the webhook API lists and
validates subscriptions against this registry and knows no app. Patterns such as
``booking.*`` match by ``fnmatch``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.utils.functional import Promise

_registry: dict[str, str | Promise] = {}


def register(event_type: str, description: str | Promise) -> str:
    """Declare that ``event_type`` is emitted (idempotent); returns the type, so a module
    can write ``COLLECTED = events.register("trial.collected", _("…"))``."""
    _registry[event_type] = description
    return event_type


def event_types() -> dict[str, str | Promise]:
    """Every registered type → its description, in name order."""
    return dict(sorted(_registry.items()))


def unmatched(patterns: list[str]) -> list[str]:
    """The patterns that match no registered event type."""
    return [p for p in patterns if not any(fnmatchcase(e, p) for e in _registry)]
