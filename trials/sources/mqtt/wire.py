"""A minimal MQTT v5 subscriber connection (OASIS MQTT Version 5.0): exactly what the
collector needs — CONNECT with a session, SUBSCRIBE, receive PUBLISH at QoS 0 or 1,
acknowledge in batches, keep alive, DISCONNECT — and nothing else (no publishing, no
QoS 2: the subscription asks for QoS 1 at most, so the broker never sends QoS 2).

Why not paho-mqtt, the well-kept client (which the demo publisher and the tests use):
its receive path costs far more per message than the collector can spend. On the 2-core
bench machine, paho 2.2 with MQTT v5 received about 5,600 messages a second even with
automatic acknowledgements (a ``Properties`` object and a socket read per header byte
for every message; with manual acknowledgements, one write per PUBACK on top), while
mosquitto_sub received 20,000. gmqtt 0.8 (asyncio) fared better but not enough: with
acknowledgements after storing — it sends each PUBACK in its own write, and can defer one
only through a private method — it stored 9,100–9,700 readings a second against
mosquitto_sub's ~20,000 (ratio 0.46, below the 0.5 the issue sets). This loop — one
read per 256 KiB, all PUBACKs of a stored batch in one write — keeps up with the
publishers: in ``make bench`` (tests/benchmarks/bench_mqtt.py) the collector stored
17,400–21,400 readings a second into PostgreSQL against mosquitto_sub's 19,900–21,900 on
the same stream.

The connection is blocking with time-outs, driven by one thread. The socket comes from
the caller, already connected to the address the outbound guard checked (and wrapped in
TLS there, verified on the URL's host name).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from datetime import UTC, datetime
from typing import NamedTuple

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
READ_SIZE = 256 * 1024
MAX_PACKET = 1024 * 1024  # announced in CONNECT: the broker sends nothing larger

# Property identifiers (MQTT 5.0, 2.2.2.2) by how their value is encoded, to skip them.
_BYTE = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_TWO = frozenset({0x13, 0x21, 0x22, 0x23})
_FOUR = frozenset({0x02, 0x11, 0x18, 0x27})
_VARINT = frozenset({0x0B})
_TEXT = frozenset({0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F, 0x09, 0x16})  # with a length
_PAIR = frozenset({0x26})
SESSION_EXPIRY, RECEIVE_MAXIMUM, MAXIMUM_PACKET_SIZE = 0x11, 0x21, 0x27
SERVER_KEEP_ALIVE, REASON_STRING = 0x13, 0x1F


class ConnectionLost(ConnectionError):
    """The broker closed the connection, sent DISCONNECT, or stopped answering."""


class ProtocolError(ConnectionLost):
    """The broker sent something this client cannot read; the connection is dropped."""


class Refused(Exception):
    """The broker answered CONNECT with a failure reason code (0x80 or above)."""

    def __init__(self, reason_code: int):
        super().__init__(f"CONNACK reason code 0x{reason_code:02X}")
        self.reason_code = reason_code


class Message(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    mid: int  # the packet identifier (0 at QoS 0)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def _read_varint(data, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    for _ in range(4):
        if pos >= len(data):
            raise ProtocolError("truncated variable byte integer")
        digit = data[pos]
        pos += 1
        value += (digit & 0x7F) * mult
        if not digit & 0x80:
            return value, pos
        mult *= 128
    raise ProtocolError("variable byte integer longer than 4 bytes")


def properties(data, pos: int) -> tuple[dict[int, object], int]:
    """The properties at ``pos`` (their length first) and the position after them."""
    length, pos = _read_varint(data, pos)
    end, found = pos + length, {}
    while pos < end:
        ident, pos = _read_varint(data, pos)
        if ident in _BYTE:
            found[ident], pos = data[pos], pos + 1
        elif ident in _TWO:
            found[ident], pos = struct.unpack_from("!H", data, pos)[0], pos + 2
        elif ident in _FOUR:
            found[ident], pos = struct.unpack_from("!I", data, pos)[0], pos + 4
        elif ident in _VARINT:
            found[ident], pos = _read_varint(data, pos)
        elif ident in _TEXT:
            size = struct.unpack_from("!H", data, pos)[0]
            found[ident], pos = bytes(data[pos + 2:pos + 2 + size]), pos + 2 + size
        elif ident in _PAIR:
            for _ in range(2):
                pos += 2 + struct.unpack_from("!H", data, pos)[0]
        else:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
    if pos != end:
        raise ProtocolError("properties overrun their length")
    return found, end


class Connection:
    """One connection to a broker, driven by one thread."""

    def __init__(self, sock: socket.socket, *, keepalive: int = 30):
        self.sock = sock
        self.keepalive = keepalive
        self.session_present = False
        self._buffer = bytearray()
        self._inbox: list[Message] = []  # PUBLISH that came while waiting for an answer
        self._answers: dict[int, tuple[int, bytes]] = {}  # CONNACK / SUBACK by type
        self._last_sent = time.monotonic()
        self._ping_sent: float | None = None
        self._ping_wall: datetime | None = None
        self.pongs = 0  # PINGRESP received: the broker answered our keep-alive
        # When the last answered PINGREQ was sent: the broker answers in order, so every
        # message it had for us by then has arrived (``sync``).
        self.synced: datetime | None = None
        self._next_id = 0

    # --- requests ------------------------------------------------------------------------

    def connect(self, client_id: str, *, clean_start: bool, session_expiry: int,
                receive_maximum: int = 65535, username: str = "", password: str = "",
                timeout: float = 10.0) -> bool:
        """CONNECT and wait for CONNACK; True if the broker kept a session. Raises
        ``Refused`` with the reason code of a refusal."""
        flags = (0x02 if clean_start else 0) | (0x80 if username else 0) \
            | (0x40 if username and password else 0)
        props = (bytes([SESSION_EXPIRY]) + struct.pack("!I", session_expiry)
                 + bytes([RECEIVE_MAXIMUM]) + struct.pack("!H", receive_maximum)
                 + bytes([MAXIMUM_PACKET_SIZE]) + struct.pack("!I", MAX_PACKET))
        body = (_text(b"MQTT") + bytes([5, flags]) + struct.pack("!H", self.keepalive)
                + _varint(len(props)) + props + _text(client_id.encode()))
        if username:
            body += _text(username.encode())
            if password:
                body += _text(password.encode())
        self._send(_packet(CONNECT, 0, body))
        data = self._await(CONNACK, timeout)
        if len(data) < 2:
            raise ProtocolError("short CONNACK")
        if data[1] >= 0x80:
            raise Refused(data[1])
        found, _end = properties(data, 2) if len(data) > 2 else ({}, 2)
        self.keepalive = int(found.get(SERVER_KEEP_ALIVE, self.keepalive))
        self.session_present = bool(data[0] & 0x01)
        return self.session_present

    def subscribe(self, topic: str, *, qos: int = 1, retain_handling: int = 1,
                  timeout: float = 10.0) -> list[int]:
        """SUBSCRIBE one topic filter; the SUBACK's reason codes (0x80 and above: refused)."""
        self._next_id = self._next_id % 65535 + 1
        options = bytes([qos | retain_handling << 4])
        body = struct.pack("!H", self._next_id) + _varint(0) + _text(topic.encode()) + options
        self._send(_packet(SUBSCRIBE, 0x02, body))
        data = self._await(SUBACK, timeout)
        _props, pos = properties(data, 2)
        return list(data[pos:])

    def ack(self, mids: list[int]) -> None:
        """PUBACK (success) for each QoS 1 message, in one write."""
        if mids:
            self._send(b"".join(b"\x40\x02" + struct.pack("!H", mid) for mid in mids))

    def disconnect(self, session_expiry: int | None = None) -> None:
        """DISCONNECT (normal); ``session_expiry`` 0 asks the broker to drop the session."""
        props = b"" if session_expiry is None else (
            bytes([SESSION_EXPIRY]) + struct.pack("!I", session_expiry))
        with contextlib.suppress(OSError):
            self._send(_packet(DISCONNECT, 0, b"\x00" + _varint(len(props)) + props))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    # --- receiving -----------------------------------------------------------------------

    def receive(self, timeout: float) -> list[Message]:
        """The messages that arrived within ``timeout`` (all those one read brings)."""
        if not self._inbox:
            self._read(timeout)
        messages, self._inbox = self._inbox, []
        return messages

    def keep_alive(self) -> None:
        """PINGREQ when nothing was sent for a keep-alive period; ConnectionLost when the
        broker stayed silent for one after it."""
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self.keepalive:
            raise ConnectionLost("no PINGRESP")
        if self._ping_sent is None and now - self._last_sent >= self.keepalive * 0.75:
            self._ping_wall = datetime.now(UTC)
            self._send(_packet(PINGREQ, 0, b""))
            self._ping_sent = now

    def sync(self) -> None:
        """Send a PINGREQ now unless one is out: its answer sets ``synced``."""
        if self._ping_sent is None:
            self._ping_wall = datetime.now(UTC)
            self._send(_packet(PINGREQ, 0, b""))
            self._ping_sent = time.monotonic()

    def _await(self, kind: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while kind not in self._answers:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer of type {kind}")
            self._read(left)
        return self._answers.pop(kind)[1]

    def _read(self, timeout: float) -> None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(READ_SIZE)
        except (TimeoutError, BlockingIOError):
            return
        if not data:
            raise ConnectionLost("closed by the broker")
        self._buffer += data
        self._parse()

    def _parse(self) -> None:
        buf, pos, size = self._buffer, 0, len(self._buffer)
        while size - pos >= 2:
            try:
                length, start = _read_varint(buf, pos + 1)
            except ProtocolError:
                if size - pos < 5:
                    break  # the length is not all here yet
                raise
            if length > MAX_PACKET:
                raise ProtocolError(f"packet of {length} bytes")
            if start + length > size:
                break
            self._handle(buf[pos], bytes(buf[start:start + length]))
            pos = start + length
        del buf[:pos]

    def _handle(self, header: int, body: bytes) -> None:
        kind = header >> 4
        if kind == PUBLISH:
            try:
                self._inbox.append(self._publish(header, body))
            except (struct.error, IndexError) as exc:
                raise ProtocolError(f"malformed PUBLISH: {exc}") from None
        elif kind in (CONNACK, SUBACK):
            self._answers[kind] = (header, body)
        elif kind == PINGRESP:
            self._ping_sent = None
            self.synced = self._ping_wall
            self.pongs += 1
        elif kind == DISCONNECT:
            reason = body[0] if body else 0
            raise ConnectionLost(f"DISCONNECT from the broker, reason 0x{reason:02X}")

    @staticmethod
    def _publish(header: int, body: bytes) -> Message:
        qos = (header >> 1) & 0x03
        if qos > 1:
            raise ProtocolError("QoS 2 PUBLISH on a QoS 1 subscription")
        size = struct.unpack_from("!H", body)[0]
        topic, pos, mid = body[2:2 + size].decode("utf-8", "replace"), 2 + size, 0
        if qos:
            mid, pos = struct.unpack_from("!H", body, pos)[0], pos + 2
        skip, pos = _read_varint(body, pos)
        return Message(topic, body[pos + skip:], qos, mid)

    def _send(self, data: bytes) -> None:
        self.sock.settimeout(10.0)
        self.sock.sendall(data)
        self._last_sent = time.monotonic()
