"""Records kept for a while, then purged: each app registers how to purge its own
(``register``); ``purge_all`` runs them (``manage.py purge_records``; celery beat runs each
app's sweep on its own schedule)."""

from __future__ import annotations

from collections.abc import Callable

_PURGERS: dict[str, Callable[[], int]] = {}


def register(label: str, purge: Callable[[], int]) -> None:
    """``purge()`` deletes what is past its retention and returns how many rows."""
    _PURGERS[label] = purge


def purge_all() -> dict[str, int]:
    return {label: purge() for label, purge in _PURGERS.items()}
