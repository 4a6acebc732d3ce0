"""OPC UA result source (asyncua): a subscription to the configured nodes while the
collector holds the equipment (``Driver``), a history read of a booking's window where
the server historises and the source says so (``fetch_history``), and "test connection"
(``probe``).

The configuration is DESIGN.md's ``opcua`` row, normalised by ``equipment.sources``.
Every connection goes to the address the outbound guard has just checked: the URL's host
is replaced by that address, never resolved again. A reading keeps the server's source
timestamp (its server timestamp when the device gave none, our clock as a last resort).

asyncua is asyncio: each entry point runs its own event loop in the calling thread
(the collector gives every driver a thread). Django's ORM must not be touched inside
that loop, so everything the source needs is read from the equipment first (``Source``).

Error messages are our own words: the server's answers and exception texts go to the
log, never to the operator or the SME.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription
from asyncua.crypto import security_policies
from cryptography import x509
from django.conf import settings
from django.utils.translation import gettext_lazy

from core import outbound
from equipment import sources
from trials.collector.base import Found, Gap, Reading, Sink, backoff, state_value, wait
from trials.collector.selectors import STATE_METRIC

from . import SourceError, TransientSourceError

logger = logging.getLogger(__name__)

APPLICATION_URI = "urn:testbed:collector"
BATCH_SECONDS = 0.1  # readings are handed to the sink at least this often …
BATCH_READINGS = 1000  # … or as soon as this many are waiting
QUEUE_SECONDS = 10  # the server queues this much sampling per node between publishes
WATCHDOG_SECONDS = 1.0  # asyncua probes the server this often: a dead link shows in ~2 s
KEEPALIVE_SECONDS = 1.0  # a quiet subscription still hears from the server this often
LIFETIME_SECONDS = 60  # the server keeps a subscription nobody asks for this long
SESSION_TIMEOUT_MS = 60_000  # a collector that died frees its session on the server soon
REQUEST_TIMEOUT = 5.0
DRIVER_CONNECT_TIMEOUT = 15.0
CLOSE_TIMEOUT = 3.0
COLLECTOR_DOWN_AFTER = timedelta(seconds=5)  # unheld this long: a "collector_down" gap

# Status codes that mean the server refused who we are or how we talk, not a failure.
SECURITY_CODES = ("BadSecurity", "BadCertificate", "BadIdentityToken", "BadUserAccess",
                  "BadNoValidCertificates", "BadApplicationSignatureInvalid",
                  "BadUserSignatureInvalid")
MISSING_CODES = ("BadNodeIdUnknown", "BadNodeIdInvalid")
FILTER_CODES = ("BadMonitoredItemFilterUnsupported", "BadFilterNotAllowed",
                "BadMonitoredItemFilterInvalid")


# What operators and SMEs read (tests compare with these).
BAD_CONFIG = gettext_lazy("The OPC UA source's configuration is not valid; correct it on "
                          "the equipment.")
BAD_NODE_ID = gettext_lazy('%(node)s is not an OPC UA node id (such as "ns=2;s=Spindle.Load").')
REFUSED = gettext_lazy("The OPC UA server's address is not allowed for outbound connections "
                       "(outbound_refused).")
CANNOT_CONNECT = gettext_lazy("Could not connect to the OPC UA server.")
SECURITY_REJECTED = gettext_lazy(
    "The OPC UA server refused the connection: check the security policy and mode, the "
    "login, and that the server trusts Testbed's client certificate.")
NO_ENDPOINT = gettext_lazy("The OPC UA server offers no endpoint with security policy "
                           "%(policy)s and mode %(mode)s.")
NODE_MISSING = gettext_lazy("The OPC UA server has no node %(node)s.")
NOT_HISTORIZED = gettext_lazy("The OPC UA server keeps no history for node %(node)s.")
REQUEST_FAILED = gettext_lazy("The OPC UA server could not complete the request.")
NOT_UNDERSTOOD = gettext_lazy("The OPC UA server's answer could not be understood.")


# --- configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class NodeSpec:
    """A configured node and the metric it feeds (the state node feeds "state")."""

    node_id: str
    metric: str
    unit: str = ""
    is_state: bool = False


@dataclass(frozen=True)
class Source:
    """Everything a connection needs, read from the equipment before any event loop."""

    equipment_id: int
    url: str
    hub: object
    nodes: tuple[NodeSpec, ...]
    sampling_ms: int
    mode: str
    policy: str
    security_mode: str
    username: str
    password: str

    @classmethod
    def of(cls, equipment) -> Source:
        """Raises SourceError when the stored configuration is not a valid one."""
        config, errors = sources.clean_config("opcua", equipment.result_source_config or {})
        if errors or not equipment.result_source_url:
            logger.error("OPC UA source of equipment %s is misconfigured: %s",
                         equipment.pk, errors or "no URL")
            raise SourceError(str(BAD_CONFIG))
        nodes = [NodeSpec(n["node_id"], n["metric"], n["unit"]) for n in config["nodes"]]
        if config["state_node"]:
            nodes.append(NodeSpec(config["state_node"], STATE_METRIC, "", is_state=True))
        for spec in nodes:
            try:
                ua.NodeId.from_string(spec.node_id)
            except (ValueError, ua.UaError):
                raise SourceError(BAD_NODE_ID % {"node": spec.node_id}) from None
        security = config["security"]
        return cls(equipment_id=equipment.pk, url=equipment.result_source_url,
                   hub=equipment.hub, nodes=tuple(nodes), sampling_ms=config["sampling_ms"],
                   mode=config["mode"], policy=security["policy"],
                   security_mode=security["mode"], username=config["username"],
                   password=equipment.result_source_secret or "")

    def node_ids(self) -> list[str]:
        """Each configured node once, in order (a node may feed two metrics)."""
        return list(dict.fromkeys(spec.node_id for spec in self.nodes))


# --- values ---------------------------------------------------------------------------

def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value) -> float | None:
    """A value as a float (booleans 1/0); None for what is not a finite number."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _value(spec: NodeSpec, value) -> float | None:
    return state_value(value) if spec.is_state else _number(value)


def _reading(spec: NodeSpec, dv: ua.DataValue) -> Reading | None:
    """The reading a DataValue gives, if it holds a usable value."""
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return None
    number = _value(spec, dv.Value.Value if dv.Value is not None else None)
    if number is None:
        return None
    ts = dv.SourceTimestamp or dv.ServerTimestamp or datetime.now(UTC)
    return Reading(_aware(ts), spec.metric, number, spec.unit)


def _code_name(exc: ua.UaStatusCodeError) -> str:
    return ua.StatusCode(exc.code).name


# --- connecting -----------------------------------------------------------------------

def _pinned_url(url: str, dest: outbound.Destination) -> str:
    """``url`` with its host replaced by the address the guard checked (and no login)."""
    host = str(dest.addresses[0])
    if ":" in host:
        host = f"[{host}]"
    parts = urlsplit(url)
    return urlunsplit(("opc.tcp", f"{host}:{dest.port}", parts.path, parts.query, ""))


def _certificate_paths() -> tuple[Path, Path, bool]:
    """The client certificate (DER or PEM) and key (PEM), and whether they are ours to
    make: settings.OPCUA_CLIENT_CERT / OPCUA_CLIENT_KEY, else a self-signed pair kept
    under MEDIA_ROOT/opcua/ (made on first use, renewed when expired)."""
    cert = getattr(settings, "OPCUA_CLIENT_CERT", "")
    key = getattr(settings, "OPCUA_CLIENT_KEY", "")
    if cert and key:
        return Path(cert), Path(key), False
    folder = Path(settings.MEDIA_ROOT) / "opcua"
    return folder / "client-cert.der", folder / "client-key.pem", True


def _application_uri(cert_path: Path) -> str:
    """The application URI a certificate names (servers check the session's against it)."""
    data = cert_path.read_bytes()
    cert = (x509.load_pem_x509_certificate(data) if data.startswith(b"-----")
            else x509.load_der_x509_certificate(data))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return APPLICATION_URI
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else APPLICATION_URI


async def _secure(client: Client, source: Source) -> None:
    """Basic256Sha256 with Sign or SignAndEncrypt, to an endpoint the server offers."""
    mode = getattr(ua.MessageSecurityMode, source.security_mode)
    policy = security_policies.SecurityPolicyBasic256Sha256
    endpoints = await client.connect_and_get_server_endpoints()
    endpoint = next((ep for ep in endpoints if ep.SecurityMode == mode
                     and ep.SecurityPolicyUri == policy.URI), None)
    if endpoint is None:
        raise SourceError(NO_ENDPOINT % {"policy": source.policy, "mode": source.security_mode})
    cert, key, ours = _certificate_paths()
    if ours:
        await client.setup_self_signed_certificate(key, cert)
    else:
        client.application_uri = _application_uri(cert)
    await client.set_security(policy, str(cert), str(key),
                              server_certificate=endpoint.ServerCertificate, mode=mode)


async def _connect(source: Source, timeout: float) -> Client:
    """A connected client (session activated), or SourceError / TransientSourceError /
    an asyncua or socket exception for ``_translated``."""
    try:
        dest = outbound.destination(source.url, hub=source.hub, field="result_source_url",
                                    schemes=sources.SCHEMES["opcua"])
    except outbound.OutboundRefused as exc:
        logger.warning("OPC UA source of equipment %s refused: %s", source.equipment_id,
                       exc.reason)
        raise SourceError(str(REFUSED)) from exc
    client = Client(_pinned_url(source.url, dest), timeout=min(timeout, REQUEST_TIMEOUT),
                    watchdog_intervall=WATCHDOG_SECONDS)
    client.name = client.description = "Testbed collector"
    client.application_uri = APPLICATION_URI
    client.session_timeout = SESSION_TIMEOUT_MS
    if source.username:
        client.set_user(source.username)
        client.set_password(source.password)
    async with asyncio.timeout(timeout):
        if source.policy != "None":
            await _secure(client, source)
        await client.connect()
    return client


async def _close(client: Client) -> None:
    """Close the session if the link still stands; in any case stop the client's tasks."""
    if client.state is UaClientState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT)
        return
    client.uaclient.request_disconnect()
    with contextlib.suppress(Exception):  # no request goes out on a closed link
        await asyncio.wait_for(client.close_session(), CLOSE_TIMEOUT)
    client.uaclient.disconnect_socket()


def _translated(exc: BaseException) -> SourceError:
    """An exception met while talking to the server, as the error the caller reports."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ua.UaStatusCodeError):
        name = _code_name(exc)
        logger.warning("OPC UA server answered %s", name)
        if name.startswith(SECURITY_CODES):
            return SourceError(str(SECURITY_REJECTED))
        return TransientSourceError(str(REQUEST_FAILED))
    if isinstance(exc, OSError | TimeoutError | ConnectionError | EOFError):
        logger.warning("OPC UA connection failed: %r", exc)
        return TransientSourceError(str(CANNOT_CONNECT))
    logger.exception("OPC UA request failed", exc_info=exc)
    return SourceError(str(NOT_UNDERSTOOD))


def _run(coro) -> object:
    """Run a coroutine in a fresh event loop, its failures in our words."""
    try:
        return asyncio.run(coro)
    except Exception as exc:
        raise _translated(exc) from exc


async def _check_nodes(client: Client, node_ids: list[str],
                       attribute: ua.AttributeIds) -> list[ua.DataValue]:
    """Read ``attribute`` of every node; SourceError naming the first one that is missing."""
    results = await client.read_attributes([client.get_node(n) for n in node_ids], attribute)
    for node_id, dv in zip(node_ids, results, strict=True):
        if dv.StatusCode is not None and dv.StatusCode.name.startswith(MISSING_CODES):
            raise SourceError(NODE_MISSING % {"node": node_id})
    return results


# --- test connection ------------------------------------------------------------------

def probe(equipment, timeout: float = 10.0) -> list[Found]:
    """Connect, read every configured node once: the metrics found with a sample value
    (None where the node holds no number). SourceError in our words otherwise."""
    source = Source.of(equipment)
    return _run(_probe(source, timeout))


async def _probe(source: Source, timeout: float) -> list[Found]:
    async with asyncio.timeout(timeout):
        client = await _connect(source, timeout)
        try:
            node_ids = source.node_ids()
            values = dict(zip(node_ids, await _check_nodes(client, node_ids,
                                                           ua.AttributeIds.Value),
                              strict=True))
        finally:
            await _close(client)
    found = []
    for spec in source.nodes:
        dv = values[spec.node_id]
        raw = dv.Value.Value if dv.Value is not None and dv.StatusCode.is_good() else None
        found.append(Found(spec.metric, spec.unit, _value(spec, raw)))
    return found


# --- history --------------------------------------------------------------------------

def fetch_history(equipment, start: datetime, end: datetime) -> list[Reading]:
    """The readings the server historised in [start, end), for every configured node.
    For a source in ``history`` mode, after the booking (by the collection task)."""
    source = Source.of(equipment)
    return _run(_history(source, start, end, float(settings.TRIAL_SOURCE_TIMEOUT)))


async def _history(source: Source, start: datetime, end: datetime,
                   timeout: float) -> list[Reading]:
    async with asyncio.timeout(timeout * 4):
        client = await _connect(source, timeout)
        try:
            node_ids = source.node_ids()
            levels = await _check_nodes(client, node_ids, ua.AttributeIds.AccessLevel)
            for node_id, dv in zip(node_ids, levels, strict=True):
                if not ua.ua_binary.test_bit(int(dv.Value.Value or 0),
                                             ua.AccessLevel.HistoryRead):
                    raise SourceError(NOT_HISTORIZED % {"node": node_id})
            history = {node_id: await _read_history(client, node_id, start, end)
                       for node_id in node_ids}
        finally:
            await _close(client)
    readings = []
    for spec in source.nodes:
        for dv in history[spec.node_id]:
            reading = _reading(spec, dv)
            if reading is not None and start <= reading.ts < end:
                readings.append(reading)
    return readings


async def _read_history(client: Client, node_id: str, start: datetime,
                        end: datetime) -> list[ua.DataValue]:
    try:
        return await client.get_node(node_id).read_raw_history(start, end,
                                                               return_bounds=False)
    except ua.UaStatusCodeError as exc:
        if _code_name(exc).startswith(("BadHistoryOperation", "BadNotReadable")):
            raise SourceError(NOT_HISTORIZED % {"node": node_id}) from exc
        raise


# --- the collector's driver -----------------------------------------------------------

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
    """Subscribes to the configured nodes while the collector holds the equipment; see
    trials/collector/base.py for the contract.

    A connection loss (the server restarted, the network cut) shows within a few seconds
    (asyncua's watchdog, the socket, or the subscription's status); the client is thrown
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
        self.outage: _Outage | None = None
        self.hold = ""  # this collector's hold of the equipment (when it began, ISO)

    def run(self) -> None:
        held_since = self.sink.held_since()
        self.hold = held_since.isoformat()
        state = self.sink.state()
        if state.get("hold") == self.hold:  # an earlier driver of this hold stopped
            if state.get("down_since"):
                self.outage = _Outage(datetime.fromisoformat(state["down_since"]),
                                      "disconnected")
        else:
            last_held = self.sink.last_held()
            if last_held is not None and held_since - last_held > COLLECTOR_DOWN_AFTER:
                self.outage = _Outage(last_held, "collector_down")
            self.sink.write([], state={"hold": self.hold})
        try:
            asyncio.run(self._run())
        except Exception:
            self._lost()
            self.sink.write([], state={"hold": self.hold,
                                       "down_since": self.outage.start.isoformat()})
            raise

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
                error = _translated(exc)
                if not isinstance(error, TransientSourceError):
                    raise error from exc
            if self.stop.is_set():
                break
            self._lost()
            attempt += 1
            if await asyncio.to_thread(wait, self.stop, backoff(attempt)):
                break
        self._stopped()

    async def _session(self) -> None:
        client = await self._connect()
        if client is None:
            return
        session = None
        try:
            session = await self._subscribe(client)
            self._resumed()
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
            await _close(client)

    async def _connect(self) -> Client | None:
        """A connected client; None if told to stop meanwhile (a connection attempt may
        take DRIVER_CONNECT_TIMEOUT, the collector waits less for a driver to stop)."""
        task = asyncio.create_task(_connect(self.source, DRIVER_CONNECT_TIMEOUT))
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
        """Publishing every sampling_ms; a keep-alive at least every KEEPALIVE_SECONDS, so
        when the link goes we know to about a second since when nothing came."""
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
                reading = _reading(spec, dv)
                if reading is not None:
                    session.batch.append(reading)
            if len(session.batch) >= BATCH_READINGS:
                self._flush(session)

    async def _tick(self, session: _Session) -> None:
        """Every BATCH_SECONDS: hand the batch over, and watch for stop and for loss."""
        while not self.stop.is_set():
            await asyncio.sleep(BATCH_SECONDS)
            self._flush(session)
            if session.lost or session.client.state is not UaClientState.CONNECTED:
                raise _Lost()
            heard = session.subscription.last_publish_at  # monotonic; keep-alives count
            if heard is not None:
                self.last_heard = datetime.now(UTC) - timedelta(seconds=time.monotonic() - heard)

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
        last published (or since the last reading, if that is later; else from now)."""
        if self.outage is None:
            known = [t for t in (self.last_ts, self.last_heard) if t is not None]
            self.outage = _Outage(max(known, default=datetime.now(UTC)), "disconnected")

    def _resumed(self) -> None:
        """The subscription stands again: whatever changes from now on arrives."""
        if self.outage is not None:
            self._record(datetime.now(UTC))

    def _stopped(self) -> None:
        """Stopped while disconnected: the gap runs until now."""
        if self.outage is not None:
            self._record(datetime.now(UTC))

    def _record(self, end: datetime) -> None:
        outage, self.outage = self.outage, None
        end = max(end, outage.start)
        logger.info("OPC UA source of equipment %s: %s gap %s – %s", self.source.equipment_id,
                    outage.reason, outage.start.isoformat(), end.isoformat())
        self.sink.gap(Gap(outage.start, end, outage.reason))
        self.sink.write([], state={"hold": self.hold})


__all__ = ["Driver", "fetch_history", "probe"]
