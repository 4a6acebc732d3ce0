"""What the collector and its source drivers share.

A **driver** (one per result-source kind: ``trials.sources.mtconnect``, ``.opcua``,
``.mqtt``) talks to one piece of equipment's source while the collector holds it. It is
constructed as ``Driver(equipment, sink, stop)`` and its ``run()`` blocks until ``stop``
is set: it connects, reads, hands readings to the sink, and reconnects (with
``reconnect_delay``) after a connection loss, recording the gap. It raises ``SourceError`` only
for what no retry cures (a bad configuration); the collector logs it and tries again
later.

The **sink** is the collector's batch writer seen from one equipment: readings are
queued and written in batches (COPY on PostgreSQL), de-duplicated on (equipment,
metric, source timestamp, sequence). ``on_stored`` runs in the writer's thread once the
batch holding the readings has committed (MQTT acknowledges its messages then, so a
collector killed before the commit gets them again from the broker's session).
``state`` travels with the readings and is saved in the same transaction: a cursor
(MTConnect's agent instance and next sequence) never runs ahead of the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol


class Reading(NamedTuple):
    ts: datetime  # the source's timestamp, aware
    metric: str  # at most 64 characters
    value: float
    unit: str = ""  # at most 16 characters
    seq: int = 0  # the source's sequence number where it has one (MTConnect), else 0


class Gap(NamedTuple):
    start: datetime
    end: datetime
    reason: str  # one of GAP_REASONS
    detail: str = ""


# Why readings may be missing for a while; the trial lists its gaps with these reasons.
GAP_REASONS = {
    "agent_restart": "The MTConnect agent restarted (its instanceId changed).",
    "buffer_overflow": "The agent's buffer overflowed before the readings were fetched.",
    "disconnected": "The connection to the source was lost.",
    "collector_down": "No collector was running for the equipment.",
}


class Sink(Protocol):
    equipment_id: int

    def write(self, readings: Sequence[Reading], *, state: dict | None = None,
              on_stored: Callable[[], None] | None = None) -> None:
        """Queue readings (and the driver's new state) for the next batch."""

    def gap(self, gap: Gap) -> None:
        """Record a period without readings (written in order with the readings)."""

    def caught_up(self, moment: datetime) -> None:
        """Say that every reading the source had before ``moment`` has been handed over
        (an MTConnect poll that emptied the agent's news, an OPC UA publish or keep-alive,
        an MQTT ping answered after the session's backlog). The collection of a trial
        waits until its window's end is covered so — never for the wall clock."""

    def state(self) -> dict:
        """The driver's state as last stored for this equipment ({} at first)."""

    def held_since(self) -> datetime:
        """When this collector took the equipment over."""

    def last_held(self) -> datetime | None:
        """Until when a collector (this one or one that died) last held the equipment, as
        its last heartbeat recorded it; None if never. A driver that cannot recover what
        it missed meanwhile (OPC UA subscriptions) records a ``collector_down`` gap."""


def reconnect_delay(attempt: int, *, first: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (1, 2, …): 1, 2, 4 … capped —
    the project's one retry curve (``core.outbox.backoff``) in seconds."""
    from core import outbox

    return outbox.backoff(attempt, first=timedelta(seconds=first),
                          cap=timedelta(seconds=cap)).total_seconds()


def wait(stop: threading.Event, seconds: float) -> bool:
    """Sleep until ``stop`` is set or the time is up; True if stopped."""
    return stop.wait(seconds)


ACTIVE_STATES = frozenset({"ACTIVE", "RUNNING", "RUN", "ON", "TRUE", "BUSY", "EXECUTING",
                           "PRODUCING", "AUTOMATIC_RUNNING"})


def state_value(raw) -> float | None:
    """A state signal as 1.0 (the machine is active) or 0.0; None if not understood.

    MTConnect ``Execution`` (ACTIVE vs READY, STOPPED, FEED_HOLD, INTERRUPTED …), an OPC UA
    state node (a boolean, a number, or a text such as "Running") or an MQTT ``state``
    metric (the same)."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return 1.0 if raw else 0.0
    if isinstance(raw, str):
        text = raw.strip().upper().replace(" ", "_")
        if not text or text == "UNAVAILABLE":
            return None
        try:
            return 1.0 if float(text) else 0.0
        except ValueError:
            return 1.0 if text in ACTIVE_STATES else 0.0
    return None


class Found(NamedTuple):
    """What "test connection" found: a metric, its unit and a sample value."""
    metric: str
    unit: str
    value: float | None


class Sample(list):
    """What "test connection" found (the Found metrics, in order), and what the connection
    showed of the source: the SHA-256 fingerprint of the certificate a secured OPC UA
    server presented, for the operator to pin (``server_certificate``; "" otherwise)."""

    def __init__(self, found=(), *, server_certificate: str = ""):
        super().__init__(found)
        self.server_certificate = server_certificate


class Driver(Protocol):
    def __init__(self, equipment, sink: Sink, stop: threading.Event) -> None: ...

    def run(self) -> None: ...


ProbeFn = Callable[..., list[Found]]
