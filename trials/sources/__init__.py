"""Result sources: where a trial's results come from, one module per kind.

A source is a function ``fetch(equipment, start, end) -> Payload``: the raw results for
the period, as CSV or JSON bytes. It raises ``TransientSourceError`` for what a retry may
cure (connection refused, timeout, HTTP 5xx) and ``SourceError`` for what it won't.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Payload:
    data: bytes
    content_type: str


class SourceError(Exception):
    """The source answered with something unusable; retrying will not help."""


class TransientSourceError(SourceError):
    """The source could not be reached or failed on its side; retry later."""


def max_bytes() -> int:
    return settings.TRIAL_RESULT_MAX_BYTES


Fetch = Callable[..., Payload]


def source_for(kind: str) -> Fetch | None:
    """The fetch function of a result source kind; None where results are uploaded."""
    from . import demo, http

    return {"http": http.fetch, "demo": demo.fetch}.get(kind)


__all__ = ["Payload", "SourceError", "TransientSourceError", "source_for"]
