"""A real local HTTP gateway (not a mock) and a booking ready to be completed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bookings import services as booking_services
from tests.bookings.conftest import (  # noqa: F401  (fixtures reused here)
    category,
    equipment,
    hub,
    local,
    make_equipment,
    make_org,
    operator,
    other_operator,
    other_sme,
    sme,
)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/csv"
    delay: float = 0.0
    chunks_forever: bool = False  # stream an endless body


@dataclass
class Gateway:
    url: str
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)

    def reply(self, *replies: Reply) -> None:
        self.replies[:] = list(replies)


@pytest.fixture
def gateway():
    state = Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
            reply = state.replies.pop(0) if len(state.replies) > 1 else state.replies[0]
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.chunks_forever:
                self.end_headers()
                try:
                    for _ in range(100_000):
                        self.wfile.write(b"x" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/results"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def results_csv(trial_start, rows: int = 4) -> bytes:
    lines = ["timestamp,metric,value,unit"]
    for i in range(rows):
        ts = (trial_start + timedelta(minutes=i)).isoformat()
        lines.append(f"{ts},spindle_load,{60 + i},%")
        lines.append(f"{ts},vibration_rms,{1.5 + i / 10},mm/s")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def http_equipment(hub, category, gateway):
    return make_equipment(hub, category, "gw-cnc", result_source_kind="http",
                          result_source_url=gateway.url, result_source_secret="s3cret")


@pytest.fixture
def checked_in(http_equipment, sme, operator):
    """A booking that started an hour ago and is checked in, ready to complete."""
    booking = booking_services.create_booking(
        equipment_id=http_equipment.pk, organization=sme, start=local(1, 9), end=local(1, 11),
        purpose="trial")
    booking_services.check_in_booking(booking_id=booking.pk, organization=operator,
                                      now=booking.start)
    return booking


def complete(booking, operator):
    return booking_services.complete_booking(booking_id=booking.pk, organization=operator,
                                             now=booking.end)


@pytest.fixture
def unreachable_broker(broker_at):
    """The Celery app points at a broker address where nothing listens (port 1:
    connection refused at once); ``.restore()`` brings back in-process execution."""
    return broker_at("redis://127.0.0.1:1/0")


@dataclass
class Receiver:
    """A university's webhook endpoint: records every POST; answers from a script."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[dict] = field(default_factory=list)


@pytest.fixture
def receiver():
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                   "body": body.decode()})
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            reply = b'{"received": true}'
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/testbed"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()
