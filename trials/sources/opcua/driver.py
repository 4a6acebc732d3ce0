"""The collector's OPC UA driver: a subscription to the configured nodes while the
collector holds the equipment (trials/collector/base.py has the contract)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription

from trials.collector.base import Gap, Reading, Sink, reconnect_delay, wait

from .. import SourceError, TransientSourceError
from .client import (
    MISSING_CODES,
    NODE_MISSING,
    REQUEST_FAILED,
    SECURITY_CODES,
    SECURITY_REJECTED,
    NodeSpec,
    Source,
    close,
    connect,
    reading,
    translated,
)

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.1  # readings are handed to the sink at least this often …
BATCH_READINGS = 1000  # … or as soon as this many are waiting
QUEUE_SECONDS = 10  # the server queues this much sampling per node between publishes
# A quiet subscription still hears from the server this often (the start of a gap is known
# that well); asyncua recreates one silent for 1.5 times as long.
KEEPALIVE_SECONDS = 5.0
LIFETIME_SECONDS = 60  # the server keeps a subscription nobody asks for this long
CONNECT_TIMEOUT = 15.0
COLLECTOR_DOWN_AFTER = timedelta(seconds=5)  # unheld this long: a "collector_down" gap
FILTER_CODES = ("BadMonitoredItemFilterUnsupported", "BadFilterNotAllowed",
                "BadMonitoredItemFilterInvalid")


class _Lost(Exception):
    """The connection or the subscription is gone; connect again."""


@dataclass
class _Outage:
    """Readings may be missing since ``start``; closed when the subscription is back."""

    start: datetime
    reason: str


@dataclass
class _Session:
    """One client's subscription and the readings waiting for the sink."""

    client: Client
    subscription: Subscription
    specs: dict[int, list[NodeSpec]]  # client handle → what the node feeds
    batch: list[Reading] = field(default_factory=list)
    lost: bool = False


class Driver:
    """Subscribes to the configured nodes while the collector holds the equipment.

    A connection loss (the server restarted, the network cut) shows within a few seconds
    (the socket, asyncua's watchdog, or the subscription's status); the client is thrown
    away and a new one connects with backoff and subscribes again. The readings missed
    meanwhile are a "disconnected" gap from the last time the server was heard from (its
    last publish or keep-alive, or the last reading's timestamp if later) to the moment
    the new subscription stands. That also covers a driver that stopped on an error and
    was started again by the collector (the sink's state carries the start over).

    A subscription cannot recover what nobody listened to: when no collector held the
    equipment for a while before this one, that period is a "collector_down" gap."""

    def __init__(self, equipment, sink: Sink, stop: threading.Event):
        self.source = Source.of(equipment)
        self.sink = sink
        self.stop = stop
        self.last_ts: datetime | None = None  # of the latest reading received
        self.last_heard: datetime | None = None  # the server's last publish (or keep-alive)
        self.marked: datetime | None = None  # the last publish reported as caught up
        self.outage: _Outage | None = None
        self.hold = ""  # this collector's hold of the equipment (when it began, ISO)
        self.began = datetime.now(UTC)  # when this driver started listening

    def run(self) -> None:
        self.began = datetime.now(UTC)
        self._take_over()
        try:
            asyncio.run(self._run())
        except Exception:
            self._lost()
            self.sink.write([], state={"hold": self.hold,
                                       "down_since": self.outage.start.isoformat()})
            raise

    def _take_over(self) -> None:
        """The gap open before this driver: one a driver of this hold left when it
        stopped on an error, or the time no collector held the equipment."""
        held_since = self.sink.held_since()
        self.hold = held_since.isoformat()
        state = self.sink.state()
        if state.get("hold") == self.hold:
            if state.get("down_since"):
                self.outage = _Outage(datetime.fromisoformat(state["down_since"]),
                                      "disconnected")
            return
        last_held = self.sink.last_held()
        if last_held is not None and held_since - last_held > COLLECTOR_DOWN_AFTER:
            self.outage = _Outage(last_held, "collector_down")
        self.sink.write([], state={"hold": self.hold})

    async def _run(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            try:
                await self._session()
                attempt = 0
            except _Lost:
                attempt = 0
                logger.warning("OPC UA source of equipment %s: connection lost",
                               self.source.equipment_id)
            except SourceError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure to connect is retried
                error = translated(exc)
                if not isinstance(error, TransientSourceError):
                    raise error from exc
            if self.stop.is_set():
                break
            self._lost()
            attempt += 1
            if await asyncio.to_thread(wait, self.stop, reconnect_delay(attempt)):
                break
        self._end_outage()

    async def _session(self) -> None:
        client = await self._connect()
        if client is None:
            self._lost()  # stopped while connecting
            return
        session = None
        try:
            session = await self._subscribe(client)
            self._end_outage()
            consumer = asyncio.create_task(self._consume(session))
            try:
                await self._tick(session)
            finally:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
        finally:
            if session is not None:
                self._flush(session)
            await close(client)

    async def _connect(self) -> Client | None:
        """A connected client; None if told to stop meanwhile (a connection attempt may
        take CONNECT_TIMEOUT, the collector waits less for a driver to stop)."""
        task = asyncio.create_task(connect(self.source, CONNECT_TIMEOUT))
        while not task.done():
            await asyncio.wait({task}, timeout=BATCH_SECONDS)
            if self.stop.is_set() and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                return None
        return task.result()

    async def _subscribe(self, client: Client) -> _Session:
        """A subscription publishing every sampling_ms, one monitored item per node (the
        client handle numbers the node). A node the server refuses is left out, logged;
        SourceError when it refuses them all."""
        subscription = await client.create_subscription(self._parameters(), None,
                                                        queue_maxsize=0)
        nodes = dict(enumerate(self.source.node_ids(), start=1))
        results = dict(zip(nodes, await subscription.create_monitored_items(
            [self._item(h, node_id, True) for h, node_id in nodes.items()]), strict=True))
        no_filter = [h for h, r in results.items()
                     if isinstance(r, ua.StatusCode) and r.name.startswith(FILTER_CODES)]
        if no_filter:  # a server without DataChangeFilter: notified on value changes only
            results.update(zip(no_filter, await subscription.create_monitored_items(
                [self._item(h, nodes[h], False) for h in no_filter]), strict=True))
        refused = {nodes[h]: r.name for h, r in results.items() if isinstance(r, ua.StatusCode)}
        if refused:
            logger.warning("OPC UA source of equipment %s: cannot monitor %s",
                           self.source.equipment_id, refused)
        if len(refused) == len(nodes):
            node_id, code = next(iter(refused.items()))
            if code.startswith(SECURITY_CODES):
                raise SourceError(str(SECURITY_REJECTED))
            if code.startswith(MISSING_CODES):
                raise SourceError(NODE_MISSING % {"node": node_id})
            raise SourceError(str(REQUEST_FAILED))
        specs = {h: [s for s in self.source.nodes if s.node_id == node_id]
                 for h, node_id in nodes.items()}
        return _Session(client, subscription, specs)

    def _parameters(self) -> ua.CreateSubscriptionParameters:
        """Publishing every sampling_ms, a keep-alive at least every KEEPALIVE_SECONDS."""
        sampling = self.source.sampling_ms
        keepalive = max(1, math.ceil(KEEPALIVE_SECONDS * 1000 / sampling))
        return ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=float(sampling), RequestedMaxKeepAliveCount=keepalive,
            RequestedLifetimeCount=max(3 * keepalive,
                                       math.ceil(LIFETIME_SECONDS * 1000 / sampling)),
            MaxNotificationsPerPublish=0, PublishingEnabled=True, Priority=0)

    def _item(self, handle: int, node_id: str, timestamps: bool) -> ua.MonitoredItemCreateRequest:
        """Sampled every sampling_ms, with a queue holding QUEUE_SECONDS of samples so
        nothing is dropped between publishes; notified on a new source timestamp too
        (a value written again is a reading), where the server supports the filter."""
        params = ua.MonitoringParameters()
        params.ClientHandle = handle
        params.SamplingInterval = float(self.source.sampling_ms)
        params.QueueSize = max(10, math.ceil(QUEUE_SECONDS * 1000 / self.source.sampling_ms))
        params.DiscardOldest = True
        if timestamps:
            params.Filter = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=ua.NodeId.from_string(node_id),
                                               AttributeId=ua.AttributeIds.Value)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = params
        return request

    async def _consume(self, session: _Session) -> None:
        """Turn notifications into readings; a bad subscription status marks the loss."""
        async for event in session.subscription:
            if isinstance(event, StatusChangeEvent):
                if not event.notification.Status.is_good():
                    session.lost = True
                continue
            if not isinstance(event, DataChangeEvent):
                continue
            dv = event.data.monitored_item.Value
            for spec in session.specs.get(event.data.subscription_data.client_handle, ()):
                found = reading(spec, dv)
                if found is not None:
                    session.batch.append(found)
            if len(session.batch) >= BATCH_READINGS:
                self._flush(session)

    async def _tick(self, session: _Session) -> None:
        """Every BATCH_SECONDS: hand the batch over, and watch for stop and for loss."""
        while not self.stop.is_set():
            await asyncio.sleep(BATCH_SECONDS)
            heard = session.subscription.last_publish_at  # monotonic; keep-alives count
            self._flush(session)  # (after reading ``heard``: what it covers goes out first)
            if session.lost or session.client.state is not UaClientState.CONNECTED:
                raise _Lost()
            if heard is not None:
                self.last_heard = datetime.now(UTC) - timedelta(seconds=time.monotonic() - heard)
                if self.outage is None and self.last_heard != self.marked:
                    # A publish (or keep-alive) carries every change sampled before it.
                    self.marked = self.last_heard
                    self.sink.caught_up(self.last_heard - timedelta(
                        milliseconds=self.source.sampling_ms))

    def _flush(self, session: _Session) -> None:
        if not session.batch:
            return
        batch, session.batch = session.batch, []
        latest = max(r.ts for r in batch)
        if self.last_ts is None or latest > self.last_ts:
            self.last_ts = latest
        self.sink.write(batch)

    def _lost(self) -> None:
        """The connection is gone (or never came): readings may be missing since the server
        last published, or since the last reading if that is later; since the driver
        started if it never heard from the server."""
        if self.outage is None:
            known = [t for t in (self.last_ts, self.last_heard) if t is not None]
            self.outage = _Outage(max(known, default=self.began), "disconnected")

    def _end_outage(self) -> None:
        """The subscription stands (again), or the driver stops: the open gap ends now."""
        if self.outage is None:
            return
        outage, self.outage = self.outage, None
        end = max(datetime.now(UTC), outage.start)
        logger.info("OPC UA source of equipment %s: %s gap %s – %s", self.source.equipment_id,
                    outage.reason, outage.start.isoformat(), end.isoformat())
        self.sink.gap(Gap(outage.start, end, outage.reason))
        self.sink.write([], state={"hold": self.hold})
