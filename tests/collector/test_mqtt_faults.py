"""MQTT faults, end to end through the collector into the database: the broker connection
cut for 10 s mid-stream (through a loopback TCP proxy, never stopping the shared
Mosquitto), the broker losing the session, the collector process killed with SIGKILL
and started again, and two collectors running at once. Every message published at QoS 1
is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from tests.faults.proxy import TcpProxy
from tests.fixtures.peers import LOOPBACK_PEERS
from tests.fixtures.world import make_equipment
from trials.models import CollectorHeartbeat, Observation, SourceGap
from trials.plant.mqtt_publisher import connect, reading_payload

from .sinks import MemorySink
from .support import collector, running_booking
from .test_mqtt import BROKER, Running, forget_session, mqtt_source, robot, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


class Stream:
    """Publishes ``count`` readings of ``metric`` (value i, one millisecond apart) at
    ``rate`` messages a second, QoS 1, straight to the shared broker (not through the
    proxy), in a thread; ``join()`` waits until the broker acknowledged every one."""

    def __init__(self, topic: str, count: int, rate: float, *, metric: str = "n"):
        self.topic, self.count, self.rate, self.metric = topic, count, rate, metric
        self.start_ts = datetime.now(UTC).replace(microsecond=0)
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def values(self) -> list[float]:
        return [float(i) for i in range(self.count)]

    def start(self) -> Stream:
        self._thread.start()
        return self

    def join(self, timeout: float = 120) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive() and self.error is None, self.error
        assert self.sent == self.count

    def _run(self) -> None:
        try:
            client = connect(BROKER)
            infos, began = [], time.monotonic()
            for i in range(self.count):
                ts = self.start_ts + timedelta(milliseconds=i)
                infos.append(client.publish(self.topic, reading_payload(ts, self.metric, i), qos=1))
                time.sleep(max(0.0, began + (i + 1) / self.rate - time.monotonic()))
            for info in infos:
                info.wait_for_publish(30)
                self.sent += info.is_published()
            client.disconnect()
            client.loop_stop()
        except BaseException as exc:  # noqa: BLE001 - join() reports it
            self.error = exc


def stored_values(equipment) -> list[float]:
    return sorted(
        Observation.objects.filter(equipment=equipment, metric="n").values_list("value", flat=True)
    )


@pytest.fixture
def proxy():
    proxy = TcpProxy("127.0.0.1", 1883)
    yield proxy
    proxy.refuse()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_broker_cut_for_ten_seconds_loses_nothing(robot, proxy, sme):  # noqa: F811
    prefix = mqtt_source(robot, url=f"mqtt://127.0.0.1:{proxy.port}")
    running_booking(robot, sme)
    stream = Stream(f"{prefix}/cell", count=500, rate=20)  # 25 s
    with collector("cut") as c:
        wait_for(
            lambda: (
                robot.pk in c.held
                and c.held[robot.pk].driver is not None
                and c.held[robot.pk].driver.subscribed.is_set()
            )
        )
        driver = c.held[robot.pk].driver
        stream.start()
        time.sleep(5)
        proxy.refuse()  # every open connection cut, new ones refused
        wait_for(lambda: not driver.subscribed.is_set(), 5)
        time.sleep(10)
        proxy.accept()
        stream.join()
        wait_for(lambda: Observation.objects.filter(equipment=robot).count() >= 500, 60)
        assert c.flush()
        assert driver.connections == 2  # it did lose the connection, and came back once
    assert stored_values(robot) == stream.values()  # each exactly once
    assert not SourceGap.objects.filter(equipment=robot).exists()  # the session was kept


def test_a_session_lost_across_a_reconnect_is_a_gap(robot, proxy):  # noqa: F811
    mqtt_source(robot, url=f"mqtt://127.0.0.1:{proxy.port}")
    with Running(robot, MemorySink(robot.pk, held_since=datetime.now(UTC))) as run:
        cut_at = datetime.now(UTC)
        proxy.refuse()
        wait_for(lambda: not run.driver.subscribed.is_set(), 5)
        forget_session(robot)  # the broker drops the session (as a restart without persistence)
        proxy.accept()
        wait_for(run.driver.subscribed.is_set, 10)
        back_at = datetime.now(UTC)
    assert len(run.sink.gaps) == 1
    gap = run.sink.gaps[0]
    assert gap.reason == "disconnected"
    assert cut_at <= gap.start <= gap.end <= back_at
    assert gap.end - gap.start >= timedelta(milliseconds=500)  # the first retry waits 1 s


# --- the collector process killed ---------------------------------------------------------------


def collector_process(name: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        **LOOPBACK_PEERS,
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_collector", "--name", name, "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def until_subscribed(equipment, prefix: str, timeout: float = 30) -> None:
    """Publish a marker reading until one is stored: from then on the collector's session
    exists (what is published before the first subscription reaches nobody)."""
    deadline = time.monotonic() + timeout
    while not Observation.objects.filter(equipment=equipment, metric="marker").exists():
        assert time.monotonic() < deadline, "the collector never subscribed"
        Stream(f"{prefix}/marker", count=1, rate=1, metric="marker").start().join()
        time.sleep(0.5)


def holding(name: str) -> list[int]:
    beat = CollectorHeartbeat.objects.filter(name=name).first()
    return beat.holding if beat else []


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_collector_killed_mid_stream_loses_and_duplicates_nothing(robot, sme):  # noqa: F811
    prefix = mqtt_source(robot)
    running_booking(robot, sme)
    first = collector_process("killed")
    second = None
    try:
        wait_for(lambda: holding("killed") == [robot.pk], 30)
        until_subscribed(robot, prefix)
        stream = Stream(f"{prefix}/cell", count=2000, rate=200).start()  # 10 s
        readings = Observation.objects.filter(equipment=robot, metric="n")  # not the markers
        wait_for(lambda: readings.count() > 300, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = readings.count()
        second = collector_process("successor")
        stream.join()
        wait_for(lambda: readings.count() >= 2000, 60)
        assert holding("successor") == [robot.pk]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    assert 300 < killed_at < 2000  # killed mid-stream
    assert stored_values(robot) == stream.values()  # none lost, none twice
    assert not SourceGap.objects.filter(equipment=robot).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_collectors_collect_each_equipment_once(hub, category, sme):
    cells = [make_equipment(hub, category, f"cell-{i}") for i in range(4)]
    prefixes = [mqtt_source(cell) for cell in cells]
    for cell in cells:
        running_booking(cell, sme)
    try:
        with collector("a", interval=0.1) as a, collector("b", interval=0.1) as b:

            def subscribed() -> bool:
                held = {**a.held, **b.held}
                return len(held) == 4 and all(
                    h.driver is not None and h.driver.subscribed.is_set() for h in held.values()
                )

            wait_for(subscribed, 20)
            assert not set(a.held) & set(b.held)
            streams = [Stream(f"{p}/cell", count=300, rate=1000).start() for p in prefixes]
            for stream in streams:
                stream.join()
            wait_for(lambda: Observation.objects.count() >= 1200, 30)
            assert a.flush() and b.flush()
            wait_for(lambda: sorted(holding("a") + holding("b")) == sorted(c.pk for c in cells), 5)
            assert not set(holding("a")) & set(holding("b"))
    finally:
        for cell in cells:
            forget_session(cell)
    for cell, stream in zip(cells, streams, strict=True):
        assert stored_values(cell) == stream.values()
