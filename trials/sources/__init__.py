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
    """The fetch function of a pulled result source kind (read after the booking); None
    where results are uploaded or collected during the booking (``driver_for``)."""
    from . import demo, http

    return {"http": http.fetch, "demo": demo.fetch}.get(kind)


def _module(kind: str):
    if kind == "mtconnect":
        from . import mtconnect as module
    elif kind == "opcua":
        from . import opcua as module
    elif kind == "mqtt":
        from . import mqtt as module
    else:
        return None
    return module


def driver_for(kind: str):
    """The collector's driver class of a kind read during the booking (MTConnect, OPC UA,
    MQTT: ``trials.collector.base``), else None."""
    module = _module(kind)
    return module.Driver if module else None


def probe_for(kind: str):
    """``probe(equipment, timeout) -> list[Found]`` for "test connection", else None."""
    module = _module(kind)
    return module.probe if module else None


__all__ = ["Payload", "SourceError", "TransientSourceError", "driver_for", "probe_for",
           "source_for"]
