"""A demo robot cell publishing its readings over MQTT, as an edge gateway would.

    python -m trials.plant.mqtt_publisher --url mqtt://127.0.0.1:1883 --topic plant/robot-1

Every ``--interval`` seconds it publishes, at QoS 1, one message with the robot's readings
at that moment (DESIGN.md's several-readings payload: ``{"ts", "values", "units"}``) and
one with its ``state`` (1 while it runs its program, 0 in its pauses), so an equipment
whose MQTT source subscribes to the topic (``state_metric`` "state") gets live data and
usage evidence. The values follow the demo gateway's model (``trials.sources.demo``: a
baseline per metric, a slow drift and noise); while paused, the robot only reports its
cooling motor temperature.

For tests and benchmarks: ``Publisher(url, topic, interval).start()`` / ``.stop()``, and
``publish_readings`` / ``publish_payloads`` to send given readings and wait until the
broker has them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import random
import ssl
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho

from trials.sources import demo

logger = logging.getLogger(__name__)

ROBOT = "industrial-robotics"
RUN_TICKS, PAUSE_TICKS = 40, 10  # a program run, then a pause, in ticks
DRIFT_TICKS = 600  # one period of the slow drift
PUBLISH_TIMEOUT = 30.0
INFLIGHT = 1000  # QoS 1 messages on their way to the broker at once


def reading_payload(ts: datetime, metric: str, value, unit: str = "") -> bytes:
    """One reading, as DESIGN.md's single-reading payload."""
    body = {"ts": ts.isoformat(), "metric": metric, "value": value}
    if unit:
        body["unit"] = unit
    return json.dumps(body).encode()


def readings_payload(ts: datetime, values: dict[str, float], units: dict[str, str]) -> bytes:
    """Several readings at one time, as DESIGN.md's several-readings payload."""
    return json.dumps({"ts": ts.isoformat(), "values": values, "units": units}).encode()


class RobotModel:
    """The robot's readings at tick ``i``: demo.py's model (baseline, drift, noise)."""

    def __init__(self, category: str = ROBOT, seed: str = "robot"):
        self.metrics = demo.METRICS.get(category, demo.DEFAULT)
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not security

    @staticmethod
    def running(i: int) -> bool:
        return i % (RUN_TICKS + PAUSE_TICKS) < RUN_TICKS

    def sample(self, i: int) -> tuple[dict[str, float], dict[str, str]]:
        phase = 2 * math.pi * i / DRIFT_TICKS
        values, units = {}, {}
        for name, unit, base, drift, noise in self.metrics:
            value = base + drift * math.sin(phase + len(name)) + self.rng.gauss(0, noise)
            if not self.running(i):
                if unit != "°C":
                    continue  # no cycles, no positioning in a pause
                value = base - drift  # cooling down
            values[name], units[name] = round(max(value, 0.0), 4), unit
        return values, units


def connect(url: str, client_id: str = "") -> paho.Client:
    """A connected paho client (its network loop running in its own thread)."""
    parts = urlsplit(url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                         client_id=client_id or f"testbed-plant-{uuid.uuid4().hex[:10]}",
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)
    if parts.username:
        client.username_pw_set(unquote(parts.username),
                               unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        client.tls_set_context(ssl.create_default_context())
    client.connect(parts.hostname or "127.0.0.1",
                   parts.port or (8883 if parts.scheme == "mqtts" else 1883))
    client.loop_start()
    return client


def publish_payloads(url: str, topic: str, payloads: Iterable[bytes], *, qos: int = 1,
                     retain: bool = False) -> int:
    """Publish each payload as one message on ``topic`` and wait until the broker has
    acknowledged every one (QoS 1). Returns how many were published."""
    client = connect(url)
    try:
        infos = [client.publish(topic, payload, qos=qos, retain=retain)
                 for payload in payloads]
        for info in infos:
            info.wait_for_publish(PUBLISH_TIMEOUT)
            if not info.is_published():
                raise TimeoutError(f"message {info.mid} not acknowledged by the broker")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()


def publish_readings(url: str, topic: str,
                     readings: Iterable[tuple[datetime, str, float, str]], *,
                     qos: int = 1) -> int:
    """Publish readings ``(ts, metric, value, unit)``, one message each (QoS 1)."""
    return publish_payloads(url, topic, (reading_payload(ts, metric, value, unit)
                                         for ts, metric, value, unit in readings), qos=qos)


class Publisher:
    """Publishes the robot's readings every ``interval`` seconds until stopped."""

    def __init__(self, url: str, topic: str, interval: float = 1.0, *,
                 category: str = ROBOT, seed: str = ""):
        self.url, self.topic, self.interval = url, topic, interval
        self.model = RobotModel(category, seed or topic)
        self.published = 0  # messages acknowledged by the broker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Publisher:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        self._run()

    def _run(self) -> None:
        client = connect(self.url)
        try:
            tick = 0
            while not self._stop.is_set():
                for info in self._publish_tick(client, tick):
                    info.wait_for_publish(PUBLISH_TIMEOUT)
                    self.published += info.is_published()
                tick += 1
                self._stop.wait(self.interval)
        finally:
            client.disconnect()
            client.loop_stop()

    def _publish_tick(self, client: paho.Client, tick: int) -> list[paho.MQTTMessageInfo]:
        now = datetime.now(UTC)
        values, units = self.model.sample(tick)
        state = 1 if self.model.running(tick) else 0
        return [client.publish(self.topic, readings_payload(now, values, units), qos=1),
                client.publish(self.topic, reading_payload(now, "state", state), qos=1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--topic", default="plant/robot-1")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    parser.add_argument("--category", default=ROBOT, choices=sorted(demo.METRICS),
                        help="whose metrics to publish (demo.py's categories)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logger.info("Publishing to %s on %s every %s s (Ctrl-C stops)", args.url, args.topic,
                args.interval)
    with contextlib.suppress(KeyboardInterrupt):
        Publisher(args.url, args.topic, args.interval, category=args.category).run_forever()


if __name__ == "__main__":
    main()
