"""MQTT result source: the collector subscribes to the equipment's topic filter while its
booking runs (DESIGN.md, "Equipment data sources").

Nothing published at QoS 1 during the booking may be lost, also when the connection
drops or the collector dies, so:

- **A persistent session** (MQTT v5, Clean Start 0, Session Expiry Interval of an hour)
  under a client id that is the equipment's (``testbed-eq-<pk>``): the broker queues
  what arrives while no collector is connected, and hands it to whichever collector
  connects next with that id — this one after a reconnect, or another one that took
  the equipment over after a SIGKILL. ``release()`` drops the session when the
  collector is done with the equipment.
- **Acknowledged after storage**: a message's PUBACK is sent only once the batch holding
  its readings has committed (the sink's ``on_stored``), on the connection it came in
  on. A collector killed before the commit gets the message again; the store's unique
  key (equipment, metric, timestamp, sequence 0) drops the second copy.
- **Receive Maximum 65535**: the broker may have that many unacknowledged messages in
  flight to us, so the round trip through the batch writer does not throttle
  throughput.
- A **gap** is recorded only when the broker lost the session across a reconnect
  (CONNACK without Session Present): with the session kept, nothing was lost — as long
  as the broker's own queue for a disconnected client did not overflow (mosquitto's
  ``max_queued_messages``, 1000 by default, drops silently beyond that).

The protocol is spoken by gmqtt, an asyncio MQTT v5 client; each connection runs in an
event loop of its own in the driver's thread. Why gmqtt rather than paho-mqtt (which the
demo publisher and the tests use): on the 2-core bench machine paho 2.2 received about
5,600 messages a second with MQTT v5 (13,000 with v3.1.1 and manual acknowledgements),
gmqtt about 18,000, as many as ``mosquitto_sub`` — the collector must keep up with
publishers at full speed (``make bench``, tests/benchmarks/bench_mqtt.py). gmqtt sends
a message's PUBACK when its (asynchronous) message handler returns; the handler
returns once the batch holding the message's readings is stored.

Every connection goes to the address the outbound guard just checked, never to a fresh
resolution of the name; with ``mqtts://`` the TLS handshake sends the URL's host name
(SNI) and verifies the certificate against it (``_NamedTLS``, with the system's
certificates or ``OUTBOUND_CA_BUNDLE`` when set).

Payloads are JSON (Sparkplug B is refused by the configuration's validation): one
reading ``{"ts", "metric", "value", "unit"}`` or several at one time ``{"ts", "values":
{…}, "units": {…}}``; without ``metric`` the topic's last level names it. A message that
is not a valid reading is logged (at most once a minute, with a count) and acknowledged:
it is dropped, never retried, and never stops the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime

import gmqtt
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from gmqtt.mqtt.constants import MQTTCommands, MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError
from gmqtt.mqtt.package import CommandWithMidPacket

from core import outbound
from equipment import sources as source_config
from trials.collector.base import Found, Gap, Reading, reconnect_delay, state_value, wait
from trials.parsing import ResultFormatError, _row

from .. import SourceError

logger = logging.getLogger(__name__)

SESSION_EXPIRY = 3600  # seconds the broker keeps the session while no collector is connected
RECEIVE_MAXIMUM = 65535  # unacknowledged messages the broker may send us (MQTT v5 maximum)
KEEPALIVE = 30
CONNECT_TIMEOUT = 10.0
FLUSH_AFTER = 0.02  # seconds a received message waits for others to share its batch
FLUSH_MAX = 5000  # messages in one batch handed to the sink
TICK = 0.01  # seconds between two looks at the stop event and the batch's age
BAD_LOG_EVERY = 60.0  # seconds between two warnings about dropped messages
STATE_METRIC = "state"  # where the configured state signal is stored
PROBE_MESSAGES = 50  # a probe stops after that many messages …
PROBE_SETTLE = 2.0  # … or this many seconds after the first one

# CONNACK reason codes that mean the user name or password is wrong or not allowed.
BAD_LOGIN = frozenset({0x86, 0x87, 0x8C})

# What "test connection" and the collector's log say, in our words (the broker's own
# answer goes to the log only).
OUTBOUND_REFUSED = _("The broker's address is not allowed for outbound connections "
                     "(outbound_refused).")
UNRESOLVABLE = _("The broker's host name does not resolve.")
UNREACHABLE = _("Could not connect to the broker (connection refused or unreachable).")
NO_ANSWER = _("The broker did not answer in time.")
TLS_FAILED = _("The secure (TLS) connection to the broker failed: its certificate was not "
               "accepted, or it does not speak TLS on this port.")
LOGIN_REFUSED = _("The broker refused the user name or password.")
CONNECTION_REFUSED = _("The broker refused the connection.")
SUBSCRIPTION_REFUSED = _("The broker refused the subscription to the topic.")
CLOSED = _("The broker closed the connection.")
NO_MESSAGE = _("No message arrived on the topic within %(seconds)s s.")
NO_READING = _("Messages arrived on the topic, but none was a reading in the expected JSON "
               "format.")


# --- payloads ---------------------------------------------------------------------------

def parse_message(topic: str, payload: bytes, state_metric: str = "") -> list[Reading]:
    """The readings of one message; raises ``ResultFormatError`` (or ValueError) when it
    is not a valid reading. The configured ``state_metric`` is stored as ``state``, its
    value understood by ``state_value`` (a number, a boolean or a text like "RUNNING")."""
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ResultFormatError("not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise ResultFormatError("not a JSON object")
    if "values" in doc:
        values, units = doc["values"], doc.get("units") or {}
        if not isinstance(values, dict) or not values or not isinstance(units, dict):
            raise ResultFormatError('"values" must be a non-empty object, "units" an object')
        pairs = [(metric, value, units.get(metric, "")) for metric, value in values.items()]
    else:
        metric = doc.get("metric") or topic.rsplit("/", 1)[-1]
        pairs = [(metric, doc.get("value"), doc.get("unit", ""))]
    return [_reading(topic, doc.get("ts"), metric, value, unit, state_metric)
            for metric, value, unit in pairs]


def _reading(topic: str, ts, metric, value, unit, state_metric: str) -> Reading:
    if state_metric and isinstance(metric, str) and metric.strip() == state_metric:
        value = state_value(value)
        if value is None:
            raise ResultFormatError("state value not understood")
        metric, unit = STATE_METRIC, ""
    elif isinstance(value, bool) or value is None:  # a number, or a number as text
        raise ResultFormatError("value is not a number")
    row = _row(topic[:80], ts, metric, value, unit)
    return Reading(row.ts, row.metric, row.value, row.unit)


class _DropLog:
    """Counts messages dropped as invalid and says so at most once per ``BAD_LOG_EVERY``
    seconds (a misconfigured gateway may send thousands a second)."""

    def __init__(self, equipment_id: int):
        self.equipment_id = equipment_id
        self.count = 0
        self.logged_at = -BAD_LOG_EVERY

    def dropped(self, topic: str, reason: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged_at >= BAD_LOG_EVERY:
            logger.warning("MQTT source of equipment %s: dropped %d invalid message(s); "
                           "latest on %r: %s", self.equipment_id, self.count, topic[:200],
                           reason[:200])
            self.count, self.logged_at = 0, now


# --- connecting ---------------------------------------------------------------------------

class Closed(ConnectionError):
    """The broker closed the connection (before answering CONNECT, or later)."""


def _destination(equipment) -> outbound.Destination:
    try:
        return outbound.destination(equipment.result_source_url, hub=equipment.hub,
                                    field="result_source_url",
                                    schemes=source_config.SCHEMES["mqtt"])
    except outbound.OutboundRefused as exc:
        raise SourceError(str(OUTBOUND_REFUSED)) from exc


class _NamedTLS(ssl.SSLContext):
    """TLS on the URL's host name over a connection to the checked address: asyncio (and
    so gmqtt) would send and verify the address it connects to as the name; ``wrap_bio``
    is where it hands that name to OpenSSL, so the URL's name is put in there."""

    server_name = ""

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None,
                 session=None):
        return super().wrap_bio(incoming, outgoing, server_side=server_side,
                                server_hostname=self.server_name, session=session)


def tls_context(host: str) -> ssl.SSLContext:
    """What ``ssl.create_default_context()`` gives (certificate and name verified), on
    ``host``; trusting ``OUTBOUND_CA_BUNDLE`` when set, the system's certificates if not."""
    context = _NamedTLS(ssl.PROTOCOL_TLS_CLIENT)
    if settings.OUTBOUND_CA_BUNDLE:
        context.load_verify_locations(cafile=settings.OUTBOUND_CA_BUNDLE)
    else:
        context.load_default_certs()
    context.server_name = host
    return context


class _Client(gmqtt.Client):
    """gmqtt with the PUBACKs of one turn of the event loop sent in one write. gmqtt
    writes each PUBACK at once — a system call per message, which releases Python's
    lock: while the collector's writer thread works, each costs a wait for the lock
    again, and the collector received 1,500 instead of 18,000 messages a second. A
    stored batch's handlers all return in the same turn, so their PUBACKs go together."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pubacks: list[bytes] = []

    def _send_command_with_mid(self, cmd, mid, dup, reason_code=0):
        if cmd != MQTTCommands.PUBACK:
            super()._send_command_with_mid(cmd, mid, dup, reason_code=reason_code)
            return
        if not self._pubacks:
            asyncio.get_running_loop().call_soon(self._send_pubacks)
        self._pubacks.append(CommandWithMidPacket.build_package(
            cmd, mid, dup, reason_code=reason_code, proto_ver=MQTTv50))

    def _send_pubacks(self) -> None:
        packets, self._pubacks = b"".join(self._pubacks), []
        if not self._connection.is_closing():  # else they come again: not acknowledged
            self._connection.send_package(packets)


def new_client(client_id: str, login: dict, *, clean_start: bool, session_expiry: int,
               acknowledge_on_return: bool = False) -> gmqtt.Client:
    """A gmqtt client; with ``acknowledge_on_return`` a QoS 1 message is acknowledged when
    the (asynchronous) message handler returns, otherwise as soon as it arrives."""
    client = _Client(client_id, clean_session=clean_start,
                     optimistic_acknowledgement=not acknowledge_on_return,
                     session_expiry_interval=session_expiry,
                     receive_maximum=RECEIVE_MAXIMUM)
    client.reconnect_retries = 0  # the driver reconnects, with a new client, by itself
    if login["username"] or login["password"]:
        client.set_auth_credentials(login["username"], login["password"] or None)
    return client


async def connect(client: gmqtt.Client, dest: outbound.Destination, closed: asyncio.Event,
                  timeout: float = CONNECT_TIMEOUT) -> bool:
    """Connect ``client`` to the checked address (``closed`` is set by its
    ``on_disconnect``); whether the broker kept a session. Raises ``MQTTConnectError``
    when the broker refused, ``Closed`` when it closed the connection instead of answering,
    ``TimeoutError``, or the ``OSError`` of the TCP or TLS connection."""
    present: list[bool] = []
    client.on_connect = lambda _client, flags, _rc, _properties: present.append(bool(flags))
    connecting = asyncio.ensure_future(client.connect(
        str(dest.addresses[0]), dest.port, keepalive=KEEPALIVE, version=MQTTv50,
        ssl=tls_context(dest.host) if dest.scheme == "mqtts" else False))
    lost = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({connecting, lost}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if closed.is_set() and not connecting.done():
            # A refusal's CONNACK is followed at once by the close; let gmqtt read it.
            await asyncio.wait({connecting}, timeout=1.0)
    finally:
        lost.cancel()
    if not connecting.done():
        connecting.cancel()
        raise Closed("closed before CONNACK") if closed.is_set() else TimeoutError()
    connecting.result()
    return present[-1]


async def subscribe(client: gmqtt.Client, topic: str, timeout: float = CONNECT_TIMEOUT
                    ) -> None:
    """Subscribe at QoS 1. Subscribing again on a kept session is harmless; retained
    messages are sent only for a new subscription (retain handling 1)."""
    granted = asyncio.get_running_loop().create_future()

    def on_subscribe(_client, _mid, codes, _properties):
        if not granted.done():
            granted.set_result(codes)

    client.on_subscribe = on_subscribe
    client.subscribe(topic, qos=1, retain_handling_options=1)
    codes = await asyncio.wait_for(granted, timeout)
    if not codes or any(code >= 0x80 for code in codes):
        logger.warning("MQTT subscription to %r refused: %s", topic, codes)
        raise SourceError(str(SUBSCRIPTION_REFUSED))


async def disconnect(client: gmqtt.Client, closed: asyncio.Event) -> None:
    """Say goodbye if the connection is still open (the session stays, or not, as the
    CONNECT's Session Expiry Interval said)."""
    if not closed.is_set():
        try:
            await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            logger.info("MQTT disconnect failed: %s", exc)


def _login(equipment) -> dict:
    username = (equipment.result_source_config or {}).get("username") or ""
    return {"username": username, "password": equipment.result_source_secret or ""}


def _refusal(exc: MQTTConnectError) -> SourceError:
    """Our words for a CONNACK refusal (the broker's reason code goes to the log only)."""
    if exc._code in BAD_LOGIN:
        return SourceError(str(LOGIN_REFUSED))
    return SourceError(str(CONNECTION_REFUSED))


def _unacknowledged(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """The event loop's error handler: gmqtt sends a message's PUBACK from a callback on
    its handler's task; when the connection ends before the message's batch is stored,
    the task is cancelled and that callback raises ``CancelledError``. That is the
    intended outcome (the message is not acknowledged; the broker sends it again), not
    an error to log."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


def run_loop(coroutine):
    """Run ``coroutine`` in an event loop of its own, which ends with it (and with it the
    connection and every task left: handlers of unstored messages, gmqtt's reconnection)."""
    async def main():
        asyncio.get_running_loop().set_exception_handler(_unacknowledged)
        return await coroutine
    return asyncio.run(main())


# --- the driver ---------------------------------------------------------------------------

class _Batch:
    """Messages to hand to the sink together. Their handlers wait for ``stored``, set
    once the sink committed the readings — then gmqtt acknowledges them."""

    def __init__(self):
        self.readings: list[Reading] = []
        self.messages = 0
        self.since = time.monotonic()
        self.stored = asyncio.get_running_loop().create_future()

    def on_stored(self) -> None:
        """Called by the sink, in the writer's thread (or in this one)."""
        # Once the connection's loop has ended, its messages are not acknowledged.
        with contextlib.suppress(RuntimeError):  # "Event loop is closed"
            self.stored.get_loop().call_soon_threadsafe(self._stored)

    def _stored(self) -> None:
        if not self.stored.done():
            self.stored.set_result(None)


class Driver:
    """Holds one equipment's MQTT subscription while the collector holds the equipment."""

    def __init__(self, equipment, sink, stop: threading.Event):
        self.equipment = equipment
        self.hub = equipment.hub  # loaded here: run() needs no database query for it
        self.sink = sink
        self.stop = stop
        config = equipment.result_source_config or {}
        self.topic = config.get("topic", "")
        self.state_metric = (config.get("state_metric") or "").strip()
        self.client_id = f"testbed-eq-{equipment.pk}"
        self.drops = _DropLog(equipment.pk)
        self.subscribed = threading.Event()  # set while connected and subscribed
        self.connections = 0  # accepted by the broker so far (1 + reconnections)
        self._batch: _Batch | None = None  # touched in the connection's loop only
        self._lost_at: datetime | None = None
        self._done = threading.Event()  # set while run() is not running
        self._done.set()

    # -- lifecycle

    def run(self) -> None:
        """Connect, receive and reconnect with backoff until ``stop`` is set."""
        attempt = 0
        self._done.clear()
        try:
            while not self.stop.is_set():
                attempt = 0 if self._session() else attempt + 1
                if self.stop.is_set() or wait(self.stop, reconnect_delay(max(attempt, 1))):
                    break
        finally:
            self._done.set()

    def release(self) -> None:
        """Tell the broker to drop the session (the collector is done with the equipment):
        stops the driver, waits for ``run`` to end, then connects once more with a clean
        start and a Session Expiry Interval of 0. What was queued meanwhile is discarded."""
        self.stop.set()
        self._done.wait(CONNECT_TIMEOUT)
        try:
            run_loop(self._drop_session(_destination(self.equipment)))
        except (OSError, SourceError, MQTTConnectError, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: could not release the session: %s",
                           self.equipment.pk, exc)

    async def _drop_session(self, dest: outbound.Destination) -> None:
        client = new_client(self.client_id, _login(self.equipment), clean_start=True,
                            session_expiry=0)
        closed = asyncio.Event()
        client.on_disconnect = lambda *_args: closed.set()
        try:
            await connect(client, dest, closed)
        finally:
            await disconnect(client, closed)

    # -- one connection

    def _session(self) -> bool:
        """One connection, from connect to loss or stop. True if the broker accepted it."""
        try:
            dest = _destination(self.equipment)
        except (OSError, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: cannot connect: %s",
                           self.equipment.pk, exc)
            return False
        return run_loop(self._connection(dest))

    async def _connection(self, dest: outbound.Destination) -> bool:
        client = new_client(self.client_id, _login(self.equipment), clean_start=False,
                            session_expiry=SESSION_EXPIRY, acknowledge_on_return=True)
        closed = asyncio.Event()
        client.on_disconnect = lambda *_args: closed.set()
        client.on_message = self._on_message
        try:
            session_present = await connect(client, dest, closed)
        except MQTTConnectError as exc:
            logger.warning("MQTT source of equipment %s: the broker refused the connection: "
                           "%s", self.equipment.pk, exc)
            raise _refusal(exc) from exc
        except OSError as exc:  # refused, unreachable, timed out, TLS failed, closed
            logger.warning("MQTT source of equipment %s: cannot connect: %s",
                           self.equipment.pk, exc)
            await disconnect(client, closed)
            return False
        try:
            self._after_connack(session_present)
            await subscribe(client, self.topic)
            self.subscribed.set()
            await self._receive(closed)
        except OSError as exc:  # the subscription timed out
            logger.info("MQTT source of equipment %s: %s", self.equipment.pk, exc)
        finally:
            self.subscribed.clear()
            self._flush()
            if not self.stop.is_set() and self._lost_at is None:
                self._lost_at = datetime.now(UTC)
                logger.info("MQTT source of equipment %s: connection lost", self.equipment.pk)
            # On stop the session stays: SESSION_EXPIRY from the CONNECT.
            await disconnect(client, closed)
        return True

    def _after_connack(self, session_present: bool) -> None:
        """Record what the broker could not keep: after a reconnect without the session,
        the time since the connection was lost; at a first connection without a session
        while a collector held the equipment before, the time since then."""
        now = datetime.now(UTC)
        if self.connections and not session_present and self._lost_at is not None:
            self.sink.gap(Gap(self._lost_at, now, "disconnected",
                              "The broker did not keep the session across the reconnect."))
        elif not self.connections and not session_present:
            last = self.sink.last_held()
            if last is not None and last < now:
                self.sink.gap(Gap(last, now, "collector_down",
                                  "The broker kept no session for the equipment."))
        self._lost_at = None
        self.connections += 1

    async def _receive(self, closed: asyncio.Event) -> None:
        """Hand batches to the sink when they are old enough, until stop or loss (gmqtt
        receives, and acknowledges as the handlers return)."""
        while not (self.stop.is_set() or closed.is_set()):
            await asyncio.sleep(TICK)
            if self._batch and time.monotonic() - self._batch.since >= FLUSH_AFTER:
                self._flush()

    async def _on_message(self, _client, topic: str, payload: bytes, _qos, _properties
                          ) -> int:
        """One message: its readings join the batch; returns (and so is acknowledged)
        once they are stored. An invalid message is acknowledged at once: dropped."""
        try:
            readings = parse_message(topic, payload, self.state_metric)
        except (ResultFormatError, ValueError) as exc:
            self.drops.dropped(topic, str(exc))
            return 0
        batch = self._batch = self._batch or _Batch()
        batch.readings.extend(readings)
        batch.messages += 1
        if batch.messages >= FLUSH_MAX:
            self._flush()
        await batch.stored
        return 0  # PUBACK: success

    def _flush(self) -> None:
        batch, self._batch = self._batch, None
        if batch:
            self.sink.write(batch.readings, on_stored=batch.on_stored)


# --- "test connection" ----------------------------------------------------------------------

def probe(equipment, timeout: float = 10.0) -> list[Found]:
    """Connect (a clean, throw-away session under its own client id), subscribe and listen
    up to ``timeout`` seconds; the metrics seen, with their unit and latest value."""
    try:
        dest = _destination(equipment)
    except outbound.UnresolvableHost as exc:
        raise SourceError(str(UNRESOLVABLE)) from exc
    config = equipment.result_source_config or {}
    listener = _ProbeListener(config.get("state_metric") or "")
    client_id = f"testbed-probe-{equipment.pk}-{uuid.uuid4().hex[:8]}"
    try:
        run_loop(listener.listen(new_client(client_id, _login(equipment), clean_start=True,
                                            session_expiry=0),
                                 dest, config["topic"], timeout))
    except MQTTConnectError as exc:
        logger.info("MQTT probe of equipment %s refused: %s", equipment.pk, exc)
        raise _refusal(exc) from exc
    except ssl.SSLError as exc:
        logger.warning("MQTT probe of equipment %s: TLS failed: %s", equipment.pk, exc)
        raise SourceError(str(TLS_FAILED)) from exc
    except TimeoutError as exc:
        raise SourceError(str(NO_ANSWER)) from exc
    except Closed as exc:
        logger.info("MQTT probe of equipment %s: %s", equipment.pk, exc)
        raise SourceError(str(CLOSED)) from exc
    except OSError as exc:
        logger.info("MQTT probe of equipment %s: %s", equipment.pk, exc)
        raise SourceError(str(UNREACHABLE)) from exc
    return listener.found(timeout)


class _ProbeListener:
    def __init__(self, state_metric: str):
        self.state_metric = state_metric
        self.messages = 0
        self.first_at: float | None = None
        self.latest: dict[str, Reading] = {}

    async def listen(self, client: gmqtt.Client, dest: outbound.Destination, topic: str,
                     timeout: float) -> None:
        """Until a few messages came, or a little after the first one, or the deadline
        (messages are acknowledged as they arrive: nothing is stored)."""
        deadline = time.monotonic() + timeout
        closed = asyncio.Event()
        client.on_disconnect = lambda *_args: closed.set()
        client.on_message = self._take
        try:
            await connect(client, dest, closed, timeout=timeout)
            await subscribe(client, topic, max(deadline - time.monotonic(), 0.1))
            while time.monotonic() < deadline and self.messages < PROBE_MESSAGES and (
                    self.first_at is None or time.monotonic() - self.first_at < PROBE_SETTLE):
                if closed.is_set():
                    raise Closed("closed while listening")
                await asyncio.sleep(0.05)
        finally:
            await disconnect(client, closed)

    def _take(self, _client, topic: str, payload: bytes, _qos, _properties) -> None:
        self.messages += 1
        if self.first_at is None:
            self.first_at = time.monotonic()
        try:
            for reading in parse_message(topic, payload, self.state_metric):
                self.latest[reading.metric] = reading
        except (ResultFormatError, ValueError):
            pass  # counted among the messages; NO_READING says so if none was valid

    def found(self, timeout: float) -> list[Found]:
        if not self.messages:
            raise SourceError(str(NO_MESSAGE) % {"seconds": f"{timeout:g}"})
        if not self.latest:
            raise SourceError(str(NO_READING))
        return [Found(r.metric, r.unit, r.value)
                for r in sorted(self.latest.values(), key=lambda r: r.metric)]
