"""An MTConnect agent simulator, written from the MTConnect standard (v2.x REST protocol),
for the tests and the demo plant where no packaged agent is installed.

It serves what a collector uses of a real agent, over real HTTP:

- ``/probe`` — the ``MTConnectDevices`` document: one device (``cnc-1`` by default) with
  its components and DataItems (id, name, category, type, units);
- ``/current`` — the latest observation of every DataItem (``MTConnectStreams``);
- ``/sample?from=&count=`` — observations by sequence number from the ring buffer;
- the same under ``/<device>/…``; an unknown device is a ``NO_DEVICE`` error.

Like a real agent it keeps a ring buffer of ``bufferSize`` observations numbered by a
sequence, the Header tells ``instanceId``, ``firstSequence``, ``lastSequence`` and
``nextSequence``, a ``from`` outside the buffer is an ``OUT_OF_RANGE`` ``MTConnectError``,
and a restart (``restart()``) takes a new ``instanceId``, empties the buffer, restarts the
sequences at 1 and records every DataItem as ``UNAVAILABLE`` first — which is what a
client must survive.

``python -m trials.plant.mtconnect_agent --port 5000`` runs one producing the readings
of a CNC cell (``run_machine``) until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import math
import random
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree as ET  # noqa: S405 - builds our own documents, parses none

from trials.sources.demo import METRICS

logger = logging.getLogger(__name__)

DEVICES_NS = "urn:mtconnect.org:MTConnectDevices:2.0"
STREAMS_NS = "urn:mtconnect.org:MTConnectStreams:2.0"
ERROR_NS = "urn:mtconnect.org:MTConnectError:2.0"
VERSION = "2.0.0.0"
CONTENT_TYPE = "text/xml; charset=utf-8"
DEFAULT_COUNT = 100  # a /sample without count returns at most this many (the standard's)
UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class DataItem:
    id: str
    name: str
    category: str  # SAMPLE, EVENT or CONDITION
    type: str  # e.g. LOAD, ROTARY_VELOCITY, EXECUTION
    units: str = ""
    sub_type: str = ""

    @property
    def element(self) -> str:
        """The observation's element name in a Streams document: LOAD → Load,
        ROTARY_VELOCITY → RotaryVelocity."""
        return "".join(part.capitalize() for part in self.type.split("_"))


@dataclass(frozen=True)
class Component:
    kind: str  # the element: Device, Axes, Linear, Rotary, Controller, Path, Systems …
    id: str
    name: str
    items: tuple[DataItem, ...] = ()
    children: tuple[Component, ...] = ()

    def walk(self) -> Iterator[Component]:
        yield self
        for child in self.children:
            yield from child.walk()


def cnc_device(name: str) -> Component:
    """A 3-axis machining centre as its agent would describe it: availability, a spindle
    (speed, load, temperature, vibration), the X axis position, the controller's path
    (execution, mode, program, part count) and the electrical power drawn."""
    return Component("Device", name, name, items=(
        DataItem("avail", "availability", "EVENT", "AVAILABILITY"),
    ), children=(
        Component("Axes", "ax", "base", children=(
            Component("Linear", "x", "X", items=(
                DataItem("Xpos", "x_position", "SAMPLE", "POSITION", "MILLIMETER", "ACTUAL"),
            )),
            Component("Rotary", "c", "C", items=(
                DataItem("Srpm", "spindle_speed", "SAMPLE", "ROTARY_VELOCITY",
                         "REVOLUTION/MINUTE", "ACTUAL"),
                DataItem("Sload", "spindle_load", "SAMPLE", "LOAD", "PERCENT"),
                DataItem("Stemp", "spindle_temperature", "SAMPLE", "TEMPERATURE", "CELSIUS"),
                DataItem("vib", "vibration_rms", "SAMPLE", "VELOCITY", "MILLIMETER/SECOND"),
            )),
        )),
        Component("Controller", "cont", "controller", children=(
            Component("Path", "path", "path", items=(
                DataItem("exec", "execution", "EVENT", "EXECUTION"),
                DataItem("mode", "mode", "EVENT", "CONTROLLER_MODE"),
                DataItem("program", "program", "EVENT", "PROGRAM"),
                DataItem("pcount", "part_count", "EVENT", "PART_COUNT", sub_type="ALL"),
            )),
        )),
        Component("Systems", "sys", "systems", children=(
            Component("Electric", "elec", "electric", items=(
                DataItem("power", "power", "SAMPLE", "WATTAGE", "WATT"),
            )),
        )),
    ))


class Observation(NamedTuple):
    seq: int
    item: str  # the DataItem id
    ts: datetime
    value: str


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, as agents write them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AgentError(Exception):
    """A request the agent answers with an MTConnectError document."""

    def __init__(self, status: int, code: str, text: str):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text


class MTConnectAgent:
    """One agent serving one device. Thread-safe: the HTTP threads read what ``add`` and
    the machine thread append."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, buffer_size: int = 1024,
                 device: str = "cnc-1", seed: int = 7):
        self.device = cnc_device(device)
        self.uuid = f"testbed-{device}"
        self.buffer_size = buffer_size
        self.items = {item.id: (item, component) for component in self.device.walk()
                      for item in component.items}
        self.sender = socket.gethostname()
        self.seed = seed
        self._lock = threading.Lock()
        self._buffer: deque[Observation] = deque(maxlen=buffer_size)
        self._latest: dict[str, Observation] = {}
        self._next = 1
        self.instance_id = 0
        self.requests: deque[str] = deque(maxlen=1000)  # the paths asked for, newest last
        self._machine: threading.Thread | None = None
        self._machine_stop = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._reset()

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MTConnectAgent:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"mtconnect-agent-{self.device.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_machine()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def restart(self) -> None:
        """What a real agent restart does to its clients: a new ``instanceId``, the buffer
        emptied, sequences from 1 again, every DataItem ``UNAVAILABLE`` until its adapter
        reports (the HTTP server itself keeps listening)."""
        self._reset()

    def _reset(self) -> None:
        now = datetime.now(UTC)
        with self._lock:
            # An agent's instanceId is its start time in seconds; never the same twice.
            self.instance_id = max(self.instance_id + 1, int(time.time()))
            self._buffer.clear()
            self._latest.clear()
            self._next = 1
            for item_id in self.items:
                self._append(item_id, UNAVAILABLE, now)

    # --- observations --------------------------------------------------------------------

    def add(self, data_item_id: str, value, ts: datetime | None = None) -> int:
        """Append an observation of ``data_item_id`` (the oldest falls out of a full
        buffer); returns its sequence number."""
        return self.add_many([(data_item_id, value, ts)])[0]

    def add_many(self, observations) -> list[int]:
        """Append several (DataItem id, value, ts) at once, as an adapter's burst: no
        client request sees only part of them."""
        observations = list(observations)
        for item_id, _value, _ts in observations:
            if item_id not in self.items:
                raise KeyError(item_id)
        with self._lock:
            return [self._append(item_id, str(value), ts or datetime.now(UTC))
                    for item_id, value, ts in observations]

    def _append(self, item_id: str, value: str, ts: datetime) -> int:
        """Caller holds the lock."""
        observation = Observation(self._next, item_id, ts, value)
        self._buffer.append(observation)
        self._latest[item_id] = observation
        self._next += 1
        return observation.seq

    @property
    def next_sequence(self) -> int:
        with self._lock:
            return self._next

    def buffered(self) -> list[Observation]:
        """What the ring buffer holds now, oldest first."""
        with self._lock:
            return list(self._buffer)

    def _first(self) -> int:
        return self._buffer[0].seq if self._buffer else self._next

    # --- the machine ---------------------------------------------------------------------

    def run_machine(self, interval: float = 1.0) -> None:
        """Produce a CNC cell's readings every ``interval`` seconds in the background,
        until ``stop_machine()`` (or ``stop()``)."""
        self.stop_machine()
        self._machine_stop.clear()
        machine = CncCell(random.Random(self.seed))  # noqa: S311 - simulated data
        self._machine = threading.Thread(target=self._run_machine, args=(machine, interval),
                                         daemon=True, name="mtconnect-machine")
        self._machine.start()

    def stop_machine(self) -> None:
        if self._machine is not None:
            self._machine_stop.set()
            self._machine.join()
            self._machine = None

    def _run_machine(self, machine: CncCell, interval: float) -> None:
        self.add("avail", "AVAILABLE")
        self.add("mode", "AUTOMATIC")
        while not self._machine_stop.is_set():
            now = datetime.now(UTC)
            self.add_many((item_id, value, now) for item_id, value in machine.step())
            self._machine_stop.wait(interval)

    # --- requests ------------------------------------------------------------------------

    def respond(self, target: str) -> tuple[int, bytes]:
        """The status and document answering ``GET target``."""
        self.requests.append(target)
        parts = urlsplit(target)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            request, device = self._route(segments)
            if device is not None and device not in (self.device.name, self.uuid):
                raise AgentError(404, "NO_DEVICE", f"Could not find the device '{device}'")
            if request == "probe":
                return 200, self._devices_document()
            if request == "current":
                return 200, self._current_document()
            return 200, self._sample_document(query)
        except AgentError as exc:
            return exc.status, self._error_document(exc)

    def _route(self, segments: list[str]) -> tuple[str, str | None]:
        requests = ("probe", "current", "sample")
        if not segments:
            return "probe", None
        if len(segments) == 1:
            if segments[0] in requests:
                return segments[0], None
            return "probe", segments[0]  # /<device> is that device's probe
        if len(segments) == 2 and segments[1] in requests:
            return segments[1], segments[0]
        raise AgentError(404, "INVALID_URI", "The request was not one of probe, current or "
                                             "sample")

    def _sample_window(self, query: dict[str, str]) -> tuple[list[Observation], dict]:
        count = _integer(query, "count", min(DEFAULT_COUNT, self.buffer_size))
        start = _integer(query, "from", 0)
        if not 1 <= count <= self.buffer_size:
            raise AgentError(404, "OUT_OF_RANGE", "'count' must be greater than or equal to "
                                                  f"1 and less than or equal to {self.buffer_size}")
        with self._lock:
            first, nxt = self._first(), self._next
            start = start if "from" in query else first
            if start < first:
                raise AgentError(404, "OUT_OF_RANGE",
                                 f"'from' must be greater than or equal to {first}")
            if start > nxt:
                raise AgentError(404, "OUT_OF_RANGE",
                                 f"'from' must be less than or equal to {nxt}")
            skip = start - first
            window = list(itertools.islice(self._buffer, skip, skip + count))
        end = window[-1].seq + 1 if window else start
        return window, self._header(firstSequence=first, lastSequence=nxt - 1,
                                    nextSequence=end)

    # --- documents -----------------------------------------------------------------------

    def _header(self, **sequences: int) -> dict:
        header = {"creationTime": timestamp(datetime.now(UTC)), "sender": self.sender,
                  "instanceId": str(self.instance_id), "version": VERSION,
                  "bufferSize": str(self.buffer_size)}
        header.update({key: str(value) for key, value in sequences.items()})
        return header

    def _devices_document(self) -> bytes:
        root = _root("MTConnectDevices", DEVICES_NS)
        ET.SubElement(root, "Header", self._header(assetBufferSize="1024", assetCount="0"))
        devices = ET.SubElement(root, "Devices")
        _component(devices, self.device, uuid=self.uuid)
        return _serialise(root)

    def _current_document(self) -> bytes:
        with self._lock:
            latest = sorted(self._latest.values())
            header = self._header(firstSequence=self._first(), lastSequence=self._next - 1,
                                  nextSequence=self._next)
        return self._streams_document(latest, header)

    def _sample_document(self, query: dict[str, str]) -> bytes:
        window, header = self._sample_window(query)
        return self._streams_document(window, header)

    def _streams_document(self, observations: list[Observation], header: dict) -> bytes:
        root = _root("MTConnectStreams", STREAMS_NS)
        ET.SubElement(root, "Header", header)
        streams = ET.SubElement(root, "Streams")
        device = ET.SubElement(streams, "DeviceStream", name=self.device.name, uuid=self.uuid)
        by_component: dict[str, dict[str, ET.Element]] = {}
        for observation in observations:  # in sequence order within each container
            item, component = self.items[observation.item]
            containers = by_component.get(component.id)
            if containers is None:
                containers = by_component[component.id] = {"": ET.SubElement(
                    device, "ComponentStream", component=component.kind, name=component.name,
                    componentId=component.id)}
            container_name = "Samples" if item.category == "SAMPLE" else "Events"
            container = containers.get(container_name)
            if container is None:
                container = containers[container_name] = ET.SubElement(containers[""],
                                                                       container_name)
            attributes = {"dataItemId": item.id, "timestamp": timestamp(observation.ts),
                          "name": item.name, "sequence": str(observation.seq)}
            if item.sub_type:
                attributes["subType"] = item.sub_type
            ET.SubElement(container, item.element, attributes).text = observation.value
        return _serialise(root)

    def _error_document(self, error: AgentError) -> bytes:
        root = _root("MTConnectError", ERROR_NS)
        ET.SubElement(root, "Header", self._header())
        errors = ET.SubElement(root, "Errors")
        ET.SubElement(errors, "Error", errorCode=error.code).text = error.text
        return _serialise(root)


def _integer(query: dict[str, str], key: str, default: int) -> int:
    if key not in query:
        return default
    try:
        return int(query[key])
    except ValueError:
        raise AgentError(400, "INVALID_REQUEST", f"'{key}' must be an integer") from None


def _root(tag: str, namespace: str) -> ET.Element:
    return ET.Element(tag, {"xmlns": namespace,
                            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                            "xsi:schemaLocation": f"{namespace} http://schemas.mtconnect.org/"
                                                  f"schemas/{tag}_2.0.xsd"})


def _component(parent: ET.Element, component: Component, **extra: str) -> None:
    element = ET.SubElement(parent, component.kind, id=component.id, name=component.name,
                            **extra)
    if component.items:
        items = ET.SubElement(element, "DataItems")
        for item in component.items:
            attributes = {"category": item.category, "id": item.id, "name": item.name,
                          "type": item.type}
            if item.sub_type:
                attributes["subType"] = item.sub_type
            if item.units:
                attributes["units"] = item.units
            ET.SubElement(items, "DataItem", attributes)
    if component.children:
        children = ET.SubElement(element, "Components")
        for child in component.children:
            _component(children, child)


def _serialise(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _handler_for(agent: MTConnectAgent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "MTConnectAgent/" + VERSION

        def do_GET(self):  # noqa: N802 - http.server's name
            status, body = agent.respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            logger.debug("%s " + format, self.address_string(), *args)

    return Handler


# --- a CNC cell's readings -------------------------------------------------------------------

class CncCell:
    """A machining centre running one part program over and over: ``ACTIVE`` while it
    cuts (spindle at speed, load and vibration as in the demo gateway's CNC model, the X
    axis sweeping), ``READY`` for the part change in between, when the part count goes up.
    Each ``step()`` is one tick's observations as (DataItem id, value)."""

    CUT, CHANGE = 24, 6  # ticks per phase
    PROGRAM = "O1001 BRACKET-TI"

    def __init__(self, rng: random.Random):
        model = {name: (base, drift, noise) for name, _unit, base, drift, noise
                 in METRICS["cnc-machining"]}
        self.load, self.vibration = model["spindle_load"], model["vibration_rms"]
        self.rng = rng
        self.tick = 0
        self.parts = 0
        self.temperature = 24.0

    def step(self) -> list[tuple[str, object]]:
        phase = self.tick % (self.CUT + self.CHANGE)
        cutting = phase < self.CUT
        out: list[tuple[str, object]] = []
        if phase == 0:
            out += [("program", self.PROGRAM), ("exec", "ACTIVE")]
        elif phase == self.CUT:
            self.parts += 1
            out += [("exec", "READY"), ("pcount", self.parts)]
        out += self._samples(cutting)
        self.tick += 1
        return out

    def _samples(self, cutting: bool) -> list[tuple[str, object]]:
        slow = 2 * math.pi * self.tick / 600
        gauss = self.rng.gauss
        if cutting:
            base, drift, noise = self.load
            load = base + drift * math.sin(slow) + gauss(0, noise)
            base, drift, noise = self.vibration
            vibration = base + drift * math.sin(slow + 1.0) + gauss(0, noise)
            speed = 8000 + gauss(0, 15)
            position = 180 * math.sin(2 * math.pi * self.tick / self.CUT)
            power = 650 + 95 * load + gauss(0, 40)
            self.temperature += (48.0 - self.temperature) * 0.02
        else:
            load, vibration, speed = abs(gauss(2.0, 0.5)), abs(gauss(0.15, 0.03)), 0.0
            position, power = -250.0, 800 + gauss(0, 20)
            self.temperature += (24.0 - self.temperature) * 0.01
        return [("Srpm", round(speed, 1)), ("Sload", round(max(load, 0.0), 1)),
                ("vib", round(max(vibration, 0.0), 3)), ("Xpos", round(position, 3)),
                ("Stemp", round(self.temperature, 1)), ("power", round(power))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An MTConnect agent simulator (a CNC cell).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--buffer-size", type=int, default=131072)
    parser.add_argument("--device", default="cnc-1")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between the machine's readings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    agent = MTConnectAgent(host=args.host, port=args.port, buffer_size=args.buffer_size,
                           device=args.device)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    agent.start()
    agent.run_machine(interval=args.interval)
    logger.info("MTConnect agent for %s at %s/probe", args.device, agent.url)
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    agent.stop()


if __name__ == "__main__":
    main()
