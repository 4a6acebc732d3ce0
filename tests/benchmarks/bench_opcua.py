"""OPC UA ingestion: 200 nodes sampled at 10 Hz for 60 s through the collector into
PostgreSQL. Every value change the server makes must be stored exactly once (zero loss);
the collector's CPU share is printed.

The plant server runs in its own process (``python -m trials.plant.opcua_server``), so
that the CPU measured here is the collector's: its threads (supervisor, writer, the OPC
UA driver) run in this process, which does nothing else meanwhile. The server changes
every node every 100 ms, tick k giving each node the value k with the source timestamp
``t0 + k × 100 ms``; the benchmark checks that exactly those rows arrived.

    .venv/bin/python -m tests.benchmarks.bench_opcua --duration 10   # on its own
    make bench                                                       # 60 s, with the rest

``BENCH_OPCUA_SECONDS`` sets the duration inside ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from .harness import ROOT, BenchFailure, Figure, free_port, markdown_table

NODES = 200
SAMPLING_MS = 100
DURATION = 60.0
SETTLE_SECONDS = 30  # after the last tick, for the last readings to be stored


def duration_setting() -> float:
    return float(os.environ.get("BENCH_OPCUA_SECONDS") or DURATION)


@contextmanager
def plant_process(ticks: int) -> Iterator[tuple[subprocess.Popen, str]]:
    """The plant server with NODES counter nodes, waiting for "go" to count ``ticks``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "trials.plant.opcua_server", "--port", str(port),
         "--nodes", str(NODES), "--interval", str(SAMPLING_MS / 1000), "--ticks", str(ticks),
         "--no-history", "--no-machine"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline().split()
        if first[:1] != ["serving"]:
            raise BenchFailure(f"the OPC UA plant did not start ({first!r})")
        yield process, first[1]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_equipment(world, url: str):
    """An additive-manufacturing machine with the NODES counters as its OPC UA source,
    and a booking checked in now that lasts past the run."""
    from django.utils import timezone

    from bookings.models import Booking
    from equipment.models import Category, Equipment
    from trials.plant.opcua_server import extra_name, node_id

    from .world import POLICY, PURPOSE

    category, _ = Category.objects.get_or_create(slug="additive-manufacturing",
                                                 defaults={"name": "Additive manufacturing"})
    equipment = Equipment(hub_id=world.hub_id, category=category, slug="opcua-bench",
                          name="OPC UA bench printer", result_source_kind="opcua",
                          result_source_url=url, **POLICY)
    equipment.result_source_config = {
        "nodes": [{"node_id": node_id(extra_name(i)), "metric": f"n{i:03d}", "unit": ""}
                  for i in range(NODES)],
        "sampling_ms": SAMPLING_MS, "mode": "subscribe"}
    equipment.full_clean()
    equipment.save()
    now = timezone.now().replace(microsecond=0)
    Booking.objects.create(equipment=equipment, organization_id=world.smes[0].id,
                           operator_id=world.operator_id,
                           start=now - timedelta(minutes=1), end=now + timedelta(hours=2),
                           blocked_until=now + timedelta(hours=2),
                           status=Booking.Status.CHECKED_IN, checked_in_at=now,
                           purpose=PURPOSE, price=0)
    return equipment


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchFailure(f"timed out waiting for {what}")
        time.sleep(0.2)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu(prefix: str) -> float:
    """CPU seconds of this process's threads whose name starts with ``prefix`` (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for thread in threading.enumerate():
        if not thread.name.startswith(prefix) or thread.native_id is None:
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


EXACT_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE value = round(extract(epoch FROM ts - %(t0)s) * %(rate)s)),
       count(DISTINCT (metric, ts))
FROM trials_observation
WHERE equipment_id = %(equipment)s AND ts > %(t0)s
"""


def stored(equipment_id: int, t0: datetime) -> tuple[int, int, int]:
    """Rows after t0; those whose value is their tick (value k at t0 + k × interval); and
    distinct (metric, ts)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(EXACT_SQL, {"t0": t0, "rate": 1000 / SAMPLING_MS,
                                   "equipment": equipment_id})
        return cursor.fetchone()


def settle(equipment_id: int, t0: datetime, expected: int) -> None:
    """Until every reading is stored, or SETTLE_SECONDS pass (a shortfall shows in the
    figure)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while stored(equipment_id, t0)[0] < expected and time.monotonic() < deadline:
        time.sleep(0.2)


def measure(world, duration: float) -> list[Figure]:
    from trials.collector.runtime import Collector
    from trials.models import Observation

    ticks = round(duration * 1000 / SAMPLING_MS)
    expected = NODES * ticks
    with plant_process(ticks) as (plant, url):
        equipment = bench_equipment(world, url)
        collector = Collector(name="bench-opcua", interval=1.0)
        collector.start()
        try:
            # Subscribed: each node's current value (0) is stored first.
            until(lambda: Observation.objects.filter(equipment=equipment).count() >= NODES,
                  60, "the subscription")
            cpu, drivers, writer = process_cpu(), thread_cpu("driver-"), thread_cpu(
                "collector-writer")
            began = time.monotonic()
            plant.stdin.write("go\n")
            plant.stdin.flush()
            done = plant.stdout.readline().split()  # "counted <t0> <ticks>", after the run
            if done[:1] != ["counted"]:
                raise BenchFailure(f"the OPC UA plant did not count ({done!r})")
            t0 = datetime.fromisoformat(done[1])
            settle(equipment.pk, t0, expected)
            collector.flush()
            wall = time.monotonic() - began
            cpu = process_cpu() - cpu
            drivers = thread_cpu("driver-") - drivers
            writer = thread_cpu("collector-writer") - writer
        finally:
            collector.stop()
    rows, exact, distinct = stored(equipment.pk, t0)
    label = f"{NODES} nodes × {1000 // SAMPLING_MS} Hz for {duration:.0f} s"
    return [
        Figure(f"OPC UA readings stored exactly once ({label}; {rows:,} rows, {distinct:,} "
               f"distinct, {exact:,} with their tick's value)", exact, "readings",
               "value changes the server made", expected, "changes", target=1.0,
               percent=True),
        Figure(f"OPC UA collector CPU, % of one core over {wall:.0f} s ({label}; the "
               f"collector process; of it the driver thread {drivers / wall * 100:.1f} %, "
               f"the writer {writer / wall * 100:.1f} %)", cpu / wall * 100, "%"),
    ]


def opcua(ctx) -> list[Figure]:
    """For ``tests.benchmarks.run`` (``BENCHMARKS``)."""
    return measure(ctx.world, duration_setting())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=duration_setting(),
                        help="seconds the server changes its nodes (default 60)")
    args = parser.parse_args(argv)
    from .run import prepare

    ctx = prepare()
    print(markdown_table(measure(ctx.world, args.duration)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailure as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
