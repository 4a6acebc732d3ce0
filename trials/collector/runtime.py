"""The collector: a long-running process (``manage.py run_collector``) that reads the
equipment whose bookings are running from their MTConnect agents, OPC UA servers and MQTT
brokers, and stores the raw readings.

Three kinds of thread:

- the **supervisor** (every ``COLLECTOR_INTERVAL`` seconds): beats (``CollectorHeartbeat``,
  shown by ``/readyz``), finds the equipment to hold (a booking checked in, or starting
  within ``COLLECTOR_LEAD_MINUTES``, until ``COLLECTOR_TAIL_MINUTES`` after its end), takes
  each one's lease (``lease.py``: one collector per equipment), starts its driver, stops
  the drivers no longer needed, restarts a driver that died (with backoff), and checks
  bookings in automatically where the hub wants it;
- one **driver** per held equipment (``trials.sources.<kind>.Driver``);
- the **writer**: drains what the drivers hand over and stores it in batches
  (``store.py``), then runs the drivers' ``on_stored`` callbacks (MQTT acknowledges then).

Stopping (SIGTERM, SIGINT) stops the drivers, stores what was received and releases the
leases; a SIGKILL loses only what was not yet stored, which the sources keep (the MQTT
session, the MTConnect buffer) or the driver records as a gap (OPC UA).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, connections
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from core.errors import DomainError
from equipment.models import Equipment

from ..models import CollectorHeartbeat, SourceState
from ..sources import driver_for
from . import store
from .base import Gap, Reading, reconnect_delay
from .lease import LeaseLost, Leases
from .selectors import auto_check_in_due, equipment_to_collect

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.25
BATCH_READINGS = 20_000


@dataclass
class _Item:
    equipment_id: int
    readings: Sequence[Reading] = ()
    state: dict | None = None
    gap: Gap | None = None
    on_stored: Callable[[], None] | None = None
    caught_up: datetime | None = None


class EquipmentSink:
    """The sink one driver writes to (``base.Sink``)."""

    def __init__(self, collector: Collector, equipment_id: int, *, state: dict,
                 held_since: datetime, last_held: datetime | None):
        self.equipment_id = equipment_id
        self._collector = collector
        self._state = dict(state)
        self._held_since = held_since
        self._last_held = last_held

    def write(self, readings, *, state=None, on_stored=None) -> None:
        if state is not None:
            self._state = dict(state)
        self._collector._put(_Item(self.equipment_id, list(readings), state, None, on_stored))

    def gap(self, gap: Gap) -> None:
        self._collector._put(_Item(self.equipment_id, gap=gap))

    def caught_up(self, moment: datetime) -> None:
        self._collector._put(_Item(self.equipment_id, caught_up=moment))

    def state(self) -> dict:
        return dict(self._state)

    def held_since(self) -> datetime:
        return self._held_since

    def last_held(self) -> datetime | None:
        return self._last_held


@dataclass
class _Held:
    equipment: Equipment
    sink: EquipmentSink
    stop: threading.Event = field(default_factory=threading.Event)
    driver: object | None = None
    thread: threading.Thread | None = None
    failures: int = 0
    restart_at: float = 0.0


class Collector:
    def __init__(self, *, name: str | None = None, interval: float | None = None):
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.interval = settings.COLLECTOR_INTERVAL if interval is None else interval
        self.started = timezone.now()
        self.written = 0
        self.held: dict[int, _Held] = {}
        self._leases = Leases()
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        for target, name in ((self._write_loop, "writer"), (self._supervise, "supervisor")):
            thread = threading.Thread(target=target, name=f"collector-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run_forever(self) -> None:
        """The process's main loop (until ``stop``)."""
        self.start()
        while not self._stop.is_set():
            self._stop.wait(0.5)  # short waits: the process's signal handlers run between

    def request_stop(self) -> None:
        """Ask ``run_forever`` to return (a signal handler may call it)."""
        self._stop.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the drivers, store what they handed over, release every lease."""
        self._stop.set()
        writer, supervisor = self._threads or (None, None)
        if supervisor is not None:  # its pass ends first: no driver is taken or started after
            supervisor.join(timeout)
        for eq_id in list(self.held):
            self._stop_driver(eq_id, timeout=timeout / 2)
        self.flush(timeout)
        self._queue.put(None)
        if writer is not None:
            writer.join(timeout)
        self._leases.close()
        self.held.clear()
        self._beat(stopped=True)
        connections.close_all()  # this thread's own

    def flush(self, timeout: float = 15.0) -> bool:
        """Wait until everything handed to the writer is stored; False on time-out."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # --- the supervisor ------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except LeaseLost:
                self._drop_all()
            except (OperationalError, InterfaceError) as exc:
                logger.warning("Collector %s: database unavailable (%s)", self.name, exc)
                connection.close()
            except Exception:  # a bug must not stop the collection of everything else
                logger.exception("Collector %s: supervisor pass failed", self.name)
            self._stop.wait(self.interval)
        connections.close_all()  # this thread's own

    def step(self) -> None:
        """One supervisor pass (the tests call it directly)."""
        now = timezone.now()
        self._leases.check()
        wanted = equipment_to_collect(now)
        for eq_id in [e for e in self.held if e not in wanted]:
            self._stop_driver(eq_id, release=True)
        for eq_id, held in list(self.held.items()):  # the operator changed the source
            if eq_id in wanted and _source_of(wanted[eq_id]) != _source_of(held.equipment):
                self._stop_driver(eq_id)
                if not (held.thread and held.thread.is_alive()):
                    held.equipment = wanted[eq_id]
                    held.thread = None
        for equipment in wanted.values():
            if equipment.pk not in self.held and self._leases.try_acquire(equipment.pk):
                self._take(equipment, now)
        for held in list(self.held.values()):
            if (held.thread is None or not held.thread.is_alive()) \
                    and time.monotonic() >= held.restart_at and not self._stop.is_set():
                self._start_driver(held)
        self._beat()
        self._check_in(now)

    def _take(self, equipment: Equipment, now: datetime) -> None:
        state = SourceState.objects.filter(pk=equipment.pk).first()
        # What was surely stored: a collector that died held the equipment until its last
        # heartbeat, but may not have stored its last readings.
        marks = [m for m in (state.held_until, state.stored_until) if m] if state else []
        sink = EquipmentSink(self, equipment.pk, state=state.state if state else {},
                             held_since=now, last_held=min(marks) if marks else None)
        SourceState.objects.update_or_create(
            pk=equipment.pk, defaults={"held_by": self.name, "held_until": now})
        self.held[equipment.pk] = _Held(equipment, sink)
        logger.info("Collector %s: holding equipment %s (%s)", self.name, equipment.pk,
                    equipment.result_source_kind)

    def _start_driver(self, held: _Held) -> None:
        driver_class = driver_for(held.equipment.result_source_kind)
        if driver_class is None:
            return
        held.stop = threading.Event()
        held.driver = driver_class(held.equipment, held.sink, held.stop)
        thread = threading.Thread(target=self._run_driver, args=(held,), daemon=True,
                                  name=f"driver-{held.equipment.pk}")
        thread.start()
        held.thread = thread  # never seen unstarted by a thread that stops it

    def _run_driver(self, held: _Held) -> None:
        try:
            held.driver.run()
            held.failures = 0
        except Exception:
            held.failures += 1
            wait = reconnect_delay(held.failures, first=self.interval or 1.0, cap=300)
            held.restart_at = time.monotonic() + wait
            logger.exception("Collector %s: the driver of equipment %s stopped; again in %ss",
                             self.name, held.equipment.pk, round(wait))
        finally:
            connections.close_all()  # this thread's own

    def _stop_driver(self, eq_id: int, *, release: bool = False, timeout: float = 10.0) -> None:
        held = self.held.get(eq_id)
        if held is None:
            return
        held.stop.set()
        if held.thread is not None:
            held.thread.join(timeout)
            if held.thread.is_alive():  # not stopped yet: keep it (and its lease) for now
                logger.warning("Collector %s: the driver of equipment %s has not stopped yet",
                               self.name, eq_id)
                return
        if release:
            self.flush(timeout)  # stored (and acknowledged) before the session may go
        if release and hasattr(held.driver, "release"):
            try:
                held.driver.release()  # e.g. MQTT: the broker may drop the session now
            except Exception:
                logger.exception("Collector %s: releasing equipment %s", self.name, eq_id)
        if release:
            self.held.pop(eq_id, None)
            self._leases.release(eq_id)
            logger.info("Collector %s: released equipment %s", self.name, eq_id)

    def _drop_all(self) -> None:
        """The leases are gone: stop every driver now, without releasing (not ours)."""
        for eq_id in list(self.held):
            self._stop_driver(eq_id)
        self.held.clear()

    def _beat(self, stopped: bool = False) -> None:
        now = timezone.now()
        CollectorHeartbeat.objects.update_or_create(
            name=self.name[:120],
            defaults={"host": socket.gethostname()[:200], "pid": os.getpid(),
                      "started": self.started, "beat": now, "holding": sorted(self.held),
                      "written": self.written, "stopped": now if stopped else None})
        if self.held and not stopped:
            SourceState.objects.filter(pk__in=list(self.held)).update(
                held_by=self.name[:120], held_until=now)

    def _check_in(self, now: datetime) -> None:
        from bookings import services as booking_services

        for booking_id in auto_check_in_due(list(self.held), now):
            try:
                booking_services.auto_check_in(booking_id=booking_id, now=now)
                logger.info("Collector %s: booking %s checked in automatically", self.name,
                            booking_id)
            except DomainError as exc:  # checked in meanwhile, cancelled, …
                logger.info("Collector %s: booking %s not checked in automatically: %s",
                            self.name, booking_id, exc)

    # --- the writer ------------------------------------------------------------------------

    def _put(self, item: _Item) -> None:
        self._queue.put(item)

    def _write_loop(self) -> None:
        failures = 0
        pending: list[_Item] = []
        while True:
            done = self._take_batch(pending)
            if pending:
                stored = True
                try:
                    self._store(pending)
                    failures = 0
                except (OperationalError, InterfaceError) as exc:  # the database is away:
                    failures += 1  # keep the batch (the sources keep theirs) and retry
                    logger.warning("Collector %s: storing %s items failed (%s); retrying",
                                   self.name, len(pending), exc)
                    connection.close()
                    time.sleep(reconnect_delay(failures, first=0.5, cap=10))
                    if not done:
                        continue
                    stored = False
                except Exception:  # a batch no retry will store: drop it, unacknowledged
                    logger.exception("Collector %s: a batch of %s items could not be stored "
                                     "and is dropped", self.name, len(pending))
                    connection.close()
                    stored = False
                for item in pending:
                    if stored and item.on_stored is not None:
                        try:
                            item.on_stored()
                        except Exception:
                            logger.exception("Collector %s: on_stored failed", self.name)
                    self._queue.task_done()
                pending = []
            if done:
                connections.close_all()  # this thread's own
                return

    def _take_batch(self, pending: list[_Item]) -> bool:
        """Collect items for one batch (until BATCH_SECONDS or BATCH_READINGS); True once
        the collector is stopping and the queue is drained."""
        deadline = time.monotonic() + BATCH_SECONDS
        count = sum(len(i.readings) for i in pending)
        while count < BATCH_READINGS:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                return False
            if item is None:
                self._queue.task_done()
                return True
            pending.append(item)
            count += len(item.readings)
            if time.monotonic() >= deadline:
                break
        return False

    def _store(self, items: list[_Item]) -> None:
        readings = [(i.equipment_id, i.readings) for i in items if i.readings]
        gaps = [(i.equipment_id, i.gap) for i in items if i.gap is not None]
        states = {i.equipment_id: i.state for i in items if i.state is not None}
        # Only what the drivers said: "everything before this moment was handed over".
        stored_until: dict[int, datetime] = {}
        for i in items:
            if i.caught_up is not None:
                stored_until[i.equipment_id] = max(i.caught_up,
                                                   stored_until.get(i.equipment_id, i.caught_up))
        self.written += store.write_batch(readings=readings, gaps=gaps, states=states,
                                          stored_until=stored_until)


def _source_of(equipment: Equipment) -> tuple:
    return (equipment.result_source_kind, equipment.result_source_url,
            equipment.result_source_secret, equipment.result_source_config)


def stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.COLLECTOR_STALE_SECONDS)
