"""MQTT result source: the collector subscribes to the equipment's topic filter while its
booking runs (DESIGN.md, "Equipment data sources").

Nothing published at QoS 1 during the booking may be lost, also when the connection
drops or the collector dies, so:

- **A persistent session** (MQTT v5, ``clean_start=False``, Session Expiry Interval of an
  hour) under a client id that is the equipment's (``testbed-eq-<pk>``): the broker
  queues what arrives while no collector is connected, and hands it to whichever
  collector connects next with that id — this one after a reconnect, or another one
  that took the equipment over after a SIGKILL. ``release()`` drops the session when the
  collector is done with the equipment.
- **Acknowledged after storage** (``manual_ack``): a message's PUBACK is sent only once
  the batch holding its readings has committed (the sink's ``on_stored``). A collector
  killed before the commit gets the message again; the store's unique key (equipment,
  metric, timestamp, sequence 0) drops the second copy.
- **Receive Maximum 65535**: the broker may have that many unacknowledged messages in
  flight to us, so the round trip through the batch writer does not throttle
  throughput.
- A **gap** is recorded only when the broker lost the session across a reconnect
  (CONNACK without ``session_present``): with the session kept, nothing was lost — as
  long as the broker's own queue for a disconnected client did not overflow
  (mosquitto's ``max_queued_messages``, 1000 by default, drops silently beyond that).

Every connection goes to the address the outbound guard just checked: paho's own
``connect(host)`` would resolve the name again, so ``_PinnedClient`` overrides paho's
socket creation to connect to that address while paho's host stays the URL's host name
— the name TLS sends as SNI and verifies the broker's certificate against
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import paho.mqtt.client as paho
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import outbound
from equipment import sources as source_config
from trials.collector.base import Found, Gap, Reading, backoff, state_value, wait
from trials.parsing import ResultFormatError, _row

from . import SourceError

logger = logging.getLogger(__name__)

SESSION_EXPIRY = 3600  # seconds the broker keeps the session while no collector is connected
RECEIVE_MAXIMUM = 65535  # unacknowledged messages the broker may send us (MQTT v5 maximum)
KEEPALIVE = 30
CONNECT_TIMEOUT = 10.0
FLUSH_AFTER = 0.02  # seconds a received message waits for others to share its batch
FLUSH_MAX = 2000  # messages in one batch handed to the sink
LOOP_TIMEOUT = 0.02  # how long one turn of the network loop waits for data
BAD_LOG_EVERY = 60.0  # seconds between two warnings about dropped messages
STATE_METRIC = "state"  # where the configured state signal is stored
PROBE_MESSAGES = 50  # a probe stops after that many messages …
PROBE_SETTLE = 2.0  # … or this many seconds after the first one

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

# CONNACK reason codes that mean the user name or password is wrong or not allowed
# (MQTT v5: 0x86, 0x87, 0x8C; v3.1.1 return codes 4 and 5 arrive mapped to these).
BAD_LOGIN = frozenset({0x86, 0x87, 0x8C})


class _PinnedClient(paho.Client):
    """A paho client that connects to one address checked by the outbound guard, never to
    a fresh resolution of its host name (which stays paho's ``host`` for TLS: SNI and
    certificate verification are on the name). Overrides paho's private
    ``_create_socket_connection`` (paho-mqtt 2.x), the one place it opens the TCP
    connection; paho wraps the result in TLS itself."""

    def __init__(self, *args, address: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._pinned_address = address

    def _create_socket_connection(self) -> socket.socket:
        return socket.create_connection((self._pinned_address, self._port),
                                        timeout=self._connect_timeout)


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
        self.logged_at = 0.0

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


def _client(equipment, dest: outbound.Destination, client_id: str) -> _PinnedClient:
    client = _PinnedClient(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=paho.MQTTv5, manual_ack=True,
                           address=str(dest.addresses[0]))
    client.connect_timeout = CONNECT_TIMEOUT
    username = equipment.result_source_config.get("username") or ""
    if username:
        client.username_pw_set(username, equipment.result_source_secret or None)
    if dest.scheme == "mqtts":
        client.tls_set_context(ssl.create_default_context(
            cafile=settings.OUTBOUND_CA_BUNDLE or None))
    return client


def _connect_properties(session_expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


def _refusal(reason_code) -> SourceError:
    """Our words for a CONNACK refusal (the broker's own text goes to the log only)."""
    if reason_code.value in BAD_LOGIN:
        return SourceError(str(LOGIN_REFUSED))
    return SourceError(str(CONNECTION_REFUSED))


def _subscription_refused(reason_codes) -> bool:
    return any(code.is_failure for code in reason_codes)


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
        # Filled by on_stored in the writer's thread, drained by the network loop here:
        # paho is driven from this thread only.
        self._acks: deque[tuple[paho.Client, list[int]]] = deque()
        self._client: paho.Client | None = None
        self._batch: list[Reading] = []
        self._batch_mids: list[int] = []  # the QoS 1 messages among them, to acknowledge
        self._batch_count = 0  # messages in the batch
        self._batch_since = 0.0
        self._connack: tuple | None = None
        self._suback: list | None = None
        self._connected = False
        self._ever_connected = False
        self._lost_at: datetime | None = None
        self._done = threading.Event()
        self.subscribed = threading.Event()  # set while connected and subscribed
        self.connections = 0  # accepted by the broker so far (1 + reconnections)

    # -- lifecycle

    def run(self) -> None:
        """Connect, receive and reconnect with backoff until ``stop`` is set."""
        attempt = 0
        try:
            while not self.stop.is_set():
                attempt = 0 if self._session() else attempt + 1
                if self.stop.is_set():
                    break
                if wait(self.stop, backoff(max(attempt, 1))):
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
            dest = _destination(self.equipment)
            client = _client(self.equipment, dest, self.client_id)
            client.connect(dest.host, dest.port, keepalive=KEEPALIVE, clean_start=True,
                           properties=_connect_properties(0))
            deadline = time.monotonic() + CONNECT_TIMEOUT
            while not client.is_connected() and time.monotonic() < deadline:
                client.loop(LOOP_TIMEOUT)
            client.disconnect()
            client.loop(LOOP_TIMEOUT)
        except (OSError, SourceError, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: could not release the session: %s",
                           self.equipment.pk, exc)

    # -- one connection

    def _session(self) -> bool:
        """One connection, from connect to loss or stop. True if the broker accepted it."""
        try:
            dest = _destination(self.equipment)
            client = _client(self.equipment, dest, self.client_id)
            accepted = self._open(client, dest)
        except (OSError, outbound.UnresolvableHost) as exc:
            logger.warning("MQTT source of equipment %s: cannot connect: %s",
                           self.equipment.pk, exc)
            return False
        try:
            if accepted:
                self._receive(client)
        finally:
            self._flush()
            self._client = None
            self.subscribed.clear()
            if client.is_connected():
                client.disconnect()  # the session stays: SESSION_EXPIRY from the CONNECT
                client.loop(LOOP_TIMEOUT)
        return accepted

    def _open(self, client: paho.Client, dest: outbound.Destination) -> bool:
        """Connect and subscribe; False if the broker did not answer in time or the
        connection dropped meanwhile. Raises SourceError for a refusal no retry cures."""
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._connack, self._suback = None, None
        client.connect(dest.host, dest.port, keepalive=KEEPALIVE, clean_start=False,
                       properties=_connect_properties(SESSION_EXPIRY))
        if not self._loop_until(client, lambda: self._connack is not None):
            return False
        flags, reason = self._connack
        if reason.is_failure:
            logger.warning("MQTT source of equipment %s: the broker refused the connection: "
                           "%s", self.equipment.pk, reason)
            raise _refusal(reason)
        self._client = client
        self._after_connack(flags.session_present)
        # Subscribing again on a kept session is harmless; retained messages are sent only
        # for a new subscription (retain handling 1).
        client.subscribe(self.topic, options=SubscribeOptions(qos=1, retainHandling=1))
        if not self._loop_until(client, lambda: self._suback is not None):
            return False
        if _subscription_refused(self._suback):
            logger.warning("MQTT source of equipment %s: subscription to %r refused: %s",
                           self.equipment.pk, self.topic, self._suback)
            raise SourceError(str(SUBSCRIPTION_REFUSED))
        self.subscribed.set()
        return True

    def _loop_until(self, client: paho.Client, done: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not done():
            if self.stop.is_set() or time.monotonic() > deadline:
                return False
            if client.loop(LOOP_TIMEOUT) != paho.MQTT_ERR_SUCCESS and not done():
                return False
        return True

    def _after_connack(self, session_present: bool) -> None:
        """Record what the broker could not keep: after a reconnect without the session,
        the time since the connection was lost; at a first connection without a session
        while a collector held the equipment before, the time since then."""
        now = datetime.now(UTC)
        if self._ever_connected and not session_present and self._lost_at is not None:
            self.sink.gap(Gap(self._lost_at, now, "disconnected",
                              "The broker did not keep the session across the reconnect."))
        elif not self._ever_connected and not session_present:
            last = self.sink.last_held()
            if last is not None and last < now:
                self.sink.gap(Gap(last, now, "collector_down",
                                  "The broker kept no session for the equipment."))
        self._ever_connected = True
        self._lost_at = None
        self.connections += 1

    def _receive(self, client: paho.Client) -> None:
        """The network loop of one connection: receive, hand batches to the sink, send the
        acknowledgements of stored batches."""
        while not self.stop.is_set() and self._connected:
            if client.loop(LOOP_TIMEOUT) != paho.MQTT_ERR_SUCCESS:
                break
            self._send_acks(client)
            if self._batch_count and (self._batch_count >= FLUSH_MAX
                                      or time.monotonic() - self._batch_since >= FLUSH_AFTER):
                self._flush()

    def _flush(self) -> None:
        if not self._batch_count:
            return
        readings, mids, client = self._batch, self._batch_mids, self._client
        self._batch, self._batch_mids, self._batch_count = [], [], 0
        self.sink.write(readings, on_stored=lambda: self._acks.append((client, mids)))

    def _send_acks(self, client: paho.Client) -> None:
        """Acknowledge stored messages on the connection they came in on. Those from an
        earlier connection are not acknowledged: the broker sends them again on this one
        (same packet ids, while unacknowledged), and they are acknowledged then."""
        while self._acks:
            origin, mids = self._acks.popleft()
            if origin is client:
                for mid in mids:
                    client.ack(mid, 1)

    # -- paho callbacks (run in this driver's thread, inside client.loop)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connack = (flags, reason_code)
        self._connected = not reason_code.is_failure

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected and self._lost_at is None:
            self._lost_at = datetime.now(UTC)
        self._connected = False
        self.subscribed.clear()
        if reason_code.is_failure and not self.stop.is_set():
            logger.info("MQTT source of equipment %s disconnected: %s", self.equipment.pk,
                        reason_code)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._suback = list(reason_codes)

    def _on_message(self, client, userdata, message) -> None:
        try:
            readings = parse_message(message.topic, message.payload, self.state_metric)
        except (ResultFormatError, ValueError) as exc:
            self.drops.dropped(message.topic, str(exc))
            if message.qos == 1:
                client.ack(message.mid, 1)  # dropped: never stored, never retried
            return
        if not self._batch_count:
            self._batch_since = time.monotonic()
        self._batch.extend(readings)
        self._batch_count += 1
        if message.qos == 1:
            self._batch_mids.append(message.mid)


# --- "test connection" ----------------------------------------------------------------------

def probe(equipment, timeout: float = 10.0) -> list[Found]:
    """Connect (a clean, throw-away session under its own client id), subscribe and listen
    up to ``timeout`` seconds; the metrics seen, with their unit and latest value."""
    dest = _destination_for_probe(equipment)
    client_id = f"testbed-probe-{equipment.pk}-{uuid.uuid4().hex[:8]}"
    try:
        client = _client(equipment, dest, client_id)
    except ssl.SSLError as exc:
        logger.warning("MQTT probe of equipment %s: TLS set-up failed: %s", equipment.pk, exc)
        raise SourceError(str(TLS_FAILED)) from exc
    listener = _ProbeListener(equipment.result_source_config.get("state_metric") or "")
    client.on_connect, client.on_subscribe = listener.on_connect, listener.on_subscribe
    client.on_message = listener.on_message
    deadline = time.monotonic() + timeout
    try:
        _probe_connect(equipment, client, dest, timeout)
        listener.wait(client, lambda: listener.connack is not None, deadline)
        if listener.connack.is_failure:
            logger.info("MQTT probe of equipment %s refused: %s", equipment.pk,
                        listener.connack)
            raise _refusal(listener.connack)
        client.subscribe(equipment.result_source_config["topic"], qos=1)
        listener.wait(client, lambda: listener.suback is not None, deadline)
        if _subscription_refused(listener.suback):
            raise SourceError(str(SUBSCRIPTION_REFUSED))
        listener.listen(client, deadline)
    finally:
        if client.is_connected():
            client.disconnect()
            client.loop(LOOP_TIMEOUT)
    return listener.found(timeout)


def _destination_for_probe(equipment) -> outbound.Destination:
    try:
        return _destination(equipment)
    except outbound.UnresolvableHost as exc:
        raise SourceError(str(UNRESOLVABLE)) from exc


def _probe_connect(equipment, client: paho.Client, dest, timeout: float) -> None:
    client.connect_timeout = min(timeout, CONNECT_TIMEOUT)
    try:
        client.connect(dest.host, dest.port, keepalive=KEEPALIVE, clean_start=True,
                       properties=_connect_properties(0))
    except ssl.SSLError as exc:
        logger.warning("MQTT probe of equipment %s: TLS failed: %s", equipment.pk, exc)
        raise SourceError(str(TLS_FAILED)) from exc
    except TimeoutError as exc:
        raise SourceError(str(NO_ANSWER)) from exc
    except OSError as exc:
        logger.info("MQTT probe of equipment %s: %s", equipment.pk, exc)
        raise SourceError(str(UNREACHABLE)) from exc


class _ProbeListener:
    def __init__(self, state_metric: str):
        self.state_metric = state_metric
        self.connack = None
        self.suback: list | None = None
        self.messages = 0
        self.invalid = 0
        self.first_at: float | None = None
        self.latest: dict[str, Reading] = {}

    def on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code

    def on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.suback = list(reason_codes)

    def on_message(self, client, userdata, message) -> None:
        self.messages += 1
        if self.first_at is None:
            self.first_at = time.monotonic()
        client.ack(message.mid, message.qos)
        try:
            for reading in parse_message(message.topic, message.payload, self.state_metric):
                self.latest[reading.metric] = reading
        except (ResultFormatError, ValueError):
            self.invalid += 1

    def wait(self, client: paho.Client, done: Callable[[], bool], deadline: float) -> None:
        for _turn in self._turns(client, deadline):
            if done():
                return
        raise SourceError(str(NO_ANSWER))

    def listen(self, client: paho.Client, deadline: float) -> None:
        """Until a few messages came, or a little after the first one, or the deadline."""
        for _turn in self._turns(client, deadline):
            if self.messages >= PROBE_MESSAGES or (
                    self.first_at is not None
                    and time.monotonic() - self.first_at >= PROBE_SETTLE):
                return

    @staticmethod
    def _turns(client: paho.Client, deadline: float) -> Iterator[None]:
        while time.monotonic() < deadline:
            rc = client.loop(LOOP_TIMEOUT)
            yield  # the caller looks at what arrived (a refusing CONNACK, say) first
            if rc != paho.MQTT_ERR_SUCCESS:
                raise SourceError(str(CLOSED))

    def found(self, timeout: float) -> list[Found]:
        if not self.messages:
            raise SourceError(str(NO_MESSAGE) % {"seconds": f"{timeout:g}"})
        if not self.latest:
            raise SourceError(str(NO_READING))
        return [Found(r.metric, r.unit, r.value)
                for r in sorted(self.latest.values(), key=lambda r: r.metric)]
