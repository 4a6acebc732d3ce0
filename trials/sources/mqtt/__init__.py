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

The protocol is spoken by ``wire.Connection``, a minimal MQTT v5 subscriber (why not
paho-mqtt: its docstring). Every connection goes to the address the outbound guard
just checked, never to a fresh resolution of the name; with ``mqtts://`` the TLS
handshake sends the URL's host name (SNI) and verifies the certificate against it
(``ssl.create_default_context()``, with ``OUTBOUND_CA_BUNDLE`` when set).

Payloads are JSON (Sparkplug B is refused by the configuration's validation): one
reading ``{"ts", "metric", "value", "unit"}`` or several at one time ``{"ts", "values":
{…}, "units": {…}}``; without ``metric`` the topic's last level names it. A message that
is not a valid reading is logged (at most once a minute, with a count) and acknowledged:
it is dropped, never retried, and never stops the driver.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core import outbound
from equipment import sources as source_config
from trials.collector.base import Found, Gap, Reading, reconnect_delay, state_value, wait
from trials.parsing import ResultFormatError, _row

from .. import SourceError
from .wire import Connection, ConnectionLost, Message, Refused

logger = logging.getLogger(__name__)

SESSION_EXPIRY = 3600  # seconds the broker keeps the session while no collector is connected
RECEIVE_MAXIMUM = 65535  # unacknowledged messages the broker may send us (MQTT v5 maximum)
KEEPALIVE = 30
CONNECT_TIMEOUT = 10.0
FLUSH_AFTER = 0.02  # seconds a received message waits for others to share its batch
FLUSH_MAX = 5000  # messages in one batch handed to the sink
LOOP_TIMEOUT = 0.02  # how long one read waits for data
SYNC_EVERY = 1.0  # seconds between the pings that mark how far the readings are complete
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

def _destination(equipment) -> outbound.Destination:
    try:
        return outbound.destination(equipment.result_source_url, hub=equipment.hub,
                                    field="result_source_url",
                                    schemes=source_config.SCHEMES["mqtt"])
    except outbound.OutboundRefused as exc:
        raise SourceError(str(OUTBOUND_REFUSED)) from exc


def open_connection(dest: outbound.Destination, timeout: float = CONNECT_TIMEOUT
                    ) -> Connection:
    """A TCP (and for mqtts, TLS) connection to the checked address — never to a new
    look-up of the name, which TLS still sends and verifies the certificate against."""
    sock = socket.create_connection((str(dest.addresses[0]), dest.port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if dest.scheme == "mqtts":
            context = ssl.create_default_context(cafile=settings.OUTBOUND_CA_BUNDLE or None)
            sock = context.wrap_socket(sock, server_hostname=dest.host)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, keepalive=KEEPALIVE)


def _login(equipment) -> dict:
    username = (equipment.result_source_config or {}).get("username") or ""
    return {"username": username, "password": equipment.result_source_secret or ""}


def _refusal(exc: Refused) -> SourceError:
    """Our words for a CONNACK refusal (the broker's reason code goes to the log only)."""
    if exc.reason_code in BAD_LOGIN:
        return SourceError(str(LOGIN_REFUSED))
    return SourceError(str(CONNECTION_REFUSED))


def _subscribe(conn: Connection, topic: str) -> None:
    # Subscribing again on a kept session is harmless; retained messages are sent only
    # for a new subscription (retain handling 1).
    codes = conn.subscribe(topic, qos=1, retain_handling=1, timeout=CONNECT_TIMEOUT)
    if not codes or any(code >= 0x80 for code in codes):
        logger.warning("MQTT subscription to %r refused: %s", topic, codes)
        raise SourceError(str(SUBSCRIPTION_REFUSED))


# --- the driver ---------------------------------------------------------------------------

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
        # Filled by on_stored in the writer's thread, drained by this driver's thread
        # (the only one that touches the connection).
        self._acks: deque[tuple[Connection, list[int]]] = deque()
        self._conn: Connection | None = None
        self._batch: list[Reading] = []
        self._batch_mids: list[int] = []  # the QoS 1 messages among them, to acknowledge
        self._batch_count = 0  # messages in the batch
        self._batch_since = 0.0
        self._dropped_mids: list[int] = []  # invalid messages, acknowledged at once
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
            conn = open_connection(_destination(self.equipment))
            conn.connect(self.client_id, clean_start=True, session_expiry=0,
                         timeout=CONNECT_TIMEOUT, **_login(self.equipment))
            conn.disconnect()
        except (OSError, SourceError, Refused, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: could not release the session: %s",
                           self.equipment.pk, exc)

    # -- one connection

    def _session(self) -> bool:
        """One connection, from connect to loss or stop. True if the broker accepted it."""
        try:
            conn = open_connection(_destination(self.equipment))
        except (OSError, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: cannot connect: %s",
                           self.equipment.pk, exc)
            return False
        try:
            session_present = conn.connect(
                self.client_id, clean_start=False, session_expiry=SESSION_EXPIRY,
                receive_maximum=RECEIVE_MAXIMUM, timeout=CONNECT_TIMEOUT,
                **_login(self.equipment))
            self._conn = conn
            self._after_connack(session_present)
            _subscribe(conn, self.topic)
            self.subscribed.set()
            self._receive(conn)
        except Refused as exc:
            logger.warning("MQTT source of equipment %s: the broker refused the connection: "
                           "%s", self.equipment.pk, exc)
            raise _refusal(exc) from exc
        except OSError as exc:  # lost, timed out, TLS failed, protocol error
            if self._conn is conn and self._lost_at is None:
                self._lost_at = datetime.now(UTC)
            logger.info("MQTT source of equipment %s: connection ended: %s",
                        self.equipment.pk, exc)
        finally:
            self.subscribed.clear()
            self._flush()
            accepted, self._conn = self._conn is conn, None
            if self.stop.is_set():
                conn.disconnect()  # the session stays: SESSION_EXPIRY from the CONNECT
            else:
                conn.close()
        return accepted

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

    def _receive(self, conn: Connection) -> None:
        """Receive, hand batches to the sink, acknowledge stored batches, until stop; every
        SYNC_EVERY seconds, a ping whose answer tells the sink how far it has everything."""
        synced, next_sync = conn.synced, 0.0
        while not self.stop.is_set():
            for message in conn.receive(LOOP_TIMEOUT):
                self._take(message)
            self._send_acks(conn)
            if self._batch_count and (self._batch_count >= FLUSH_MAX
                                      or time.monotonic() - self._batch_since >= FLUSH_AFTER):
                self._flush()
            if conn.synced != synced:  # all sent before the ping is here: hand it over
                synced = conn.synced
                self._flush()
                self.sink.caught_up(synced)
            if time.monotonic() >= next_sync:
                conn.sync()
                next_sync = time.monotonic() + SYNC_EVERY
            conn.keep_alive()

    def _take(self, message: Message) -> None:
        try:
            readings = parse_message(message.topic, message.payload, self.state_metric)
        except (ResultFormatError, ValueError) as exc:
            self.drops.dropped(message.topic, str(exc))
            if message.qos:
                self._dropped_mids.append(message.mid)  # never stored, never retried
            return
        if not self._batch_count:
            self._batch_since = time.monotonic()
        self._batch.extend(readings)
        self._batch_count += 1
        if message.qos:
            self._batch_mids.append(message.mid)

    def _flush(self) -> None:
        if not self._batch_count:
            return
        readings, mids, conn = self._batch, self._batch_mids, self._conn
        self._batch, self._batch_mids, self._batch_count = [], [], 0
        self.sink.write(readings, on_stored=lambda: self._acks.append((conn, mids)))

    def _send_acks(self, conn: Connection) -> None:
        """Acknowledge stored messages on the connection they came in on. Those from an
        earlier connection are not acknowledged: the broker sends them again on this one
        (same packet ids, while unacknowledged), and they are acknowledged then."""
        mids, self._dropped_mids = self._dropped_mids, []
        while self._acks:
            origin, stored = self._acks.popleft()
            if origin is conn:
                mids += stored
        conn.ack(mids)


# --- "test connection" ----------------------------------------------------------------------

def probe(equipment, timeout: float = 10.0) -> list[Found]:
    """Connect (a clean, throw-away session under its own client id), subscribe and listen
    up to ``timeout`` seconds; the metrics seen, with their unit and latest value."""
    try:
        dest = _destination(equipment)
    except outbound.UnresolvableHost as exc:
        raise SourceError(str(UNRESOLVABLE)) from exc
    config = equipment.result_source_config or {}
    deadline = time.monotonic() + timeout
    try:
        conn = open_connection(dest, timeout=min(timeout, CONNECT_TIMEOUT))
    except ssl.SSLError as exc:
        logger.warning("MQTT probe of equipment %s: TLS failed: %s", equipment.pk, exc)
        raise SourceError(str(TLS_FAILED)) from exc
    except TimeoutError as exc:
        raise SourceError(str(NO_ANSWER)) from exc
    except OSError as exc:
        logger.info("MQTT probe of equipment %s: %s", equipment.pk, exc)
        raise SourceError(str(UNREACHABLE)) from exc
    try:
        return _listen(equipment, conn, config, deadline, timeout)
    finally:
        conn.disconnect()


def _listen(equipment, conn: Connection, config: dict, deadline: float,
            timeout: float) -> list[Found]:
    client_id = f"testbed-probe-{equipment.pk}-{uuid.uuid4().hex[:8]}"
    try:
        conn.connect(client_id, clean_start=True, session_expiry=0,
                     timeout=max(deadline - time.monotonic(), 0.1), **_login(equipment))
        _subscribe(conn, config["topic"])
        return _ProbeListener(config.get("state_metric") or "").listen(conn, deadline, timeout)
    except Refused as exc:
        logger.info("MQTT probe of equipment %s refused: %s", equipment.pk, exc)
        raise _refusal(exc) from exc
    except TimeoutError as exc:
        raise SourceError(str(NO_ANSWER)) from exc
    except ssl.SSLError as exc:
        logger.warning("MQTT probe of equipment %s: TLS failed: %s", equipment.pk, exc)
        raise SourceError(str(TLS_FAILED)) from exc
    except (ConnectionLost, OSError) as exc:
        logger.info("MQTT probe of equipment %s: %s", equipment.pk, exc)
        raise SourceError(str(CLOSED)) from exc


class _ProbeListener:
    def __init__(self, state_metric: str):
        self.state_metric = state_metric
        self.messages = 0
        self.first_at: float | None = None
        self.latest: dict[str, Reading] = {}

    def listen(self, conn: Connection, deadline: float, timeout: float) -> list[Found]:
        """Until a few messages came, or a little after the first one, or the deadline."""
        while time.monotonic() < deadline and self.messages < PROBE_MESSAGES and (
                self.first_at is None or time.monotonic() - self.first_at < PROBE_SETTLE):
            received = conn.receive(min(0.1, max(deadline - time.monotonic(), 0.001)))
            conn.ack([m.mid for m in received if m.qos])
            for message in received:
                self._take(message)
        return self.found(timeout)

    def _take(self, message: Message) -> None:
        self.messages += 1
        if self.first_at is None:
            self.first_at = time.monotonic()
        try:
            for reading in parse_message(message.topic, message.payload, self.state_metric):
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
