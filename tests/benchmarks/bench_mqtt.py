"""MQTT ingestion: 200,000 JSON readings from 4 publishers at full speed (``mosquitto_pub
-l -q 1``, one message per line of its input) through the collector (``manage.py
run_collector``, a process of its own, production settings) into PostgreSQL, against a
plain ``mosquitto_sub -q 1`` receiving the same stream to /dev/null in the same run.
Zero loss is required: the rows in ``trials_observation`` are counted.

    .venv/bin/python -m tests.benchmarks.run --only mqtt_ingestion   # with the others
    .venv/bin/python -m tests.benchmarks.bench_mqtt                  # alone

Both receivers are measured one after the other, on the same four input files, from
the publishers' start until the last message is received (mosquitto_sub) or stored
(the collector). Both run against a **private mosquitto** started for the bench on a
free loopback port (``max_queued_messages 0``, ``max_inflight_messages 0``, persistence
off), never the shared one on 1883: with mosquitto's default of 1000 queued messages per
client, a subscriber that falls behind publishers at full speed, even for a moment (the
machine is shared), loses QoS 1 messages at the broker — zero loss would be luck — and
a benchmark must not reconfigure a shared server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .harness import ROOT, BenchFailure, Figure, connect

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
READINGS = 200_000
PUBLISHERS = 4
TOPIC = "bench/cell"
TIMEOUT = 300.0  # seconds a phase may take before the bench fails
BROKER_CONFIG = "\n".join([
    "listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
    "max_queued_messages 0", "max_inflight_messages 0", "set_tcp_nodelay true", ""])


# --- a private broker (also used by tests/collector/test_mqtt.py) -------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mosquitto(config: str, ports: Sequence[int], *, files: dict[str, bytes] | None = None,
              ready_timeout: float = 10.0) -> Iterator[Path]:
    """A private mosquitto for the block (never the shared one on 1883): ``files`` are
    written to a directory of its own first, which ``config`` names as ``{dir}``; the
    block starts once every listener in ``ports`` accepts connections."""
    workdir = Path(tempfile.mkdtemp(prefix="testbed-mosquitto-"))
    workdir.chmod(0o755)  # started as root, mosquitto reads its files as user mosquitto
    for name, content in {**(files or {}),
                          "mosquitto.conf": config.replace("{dir}", str(workdir)).encode()
                          }.items():
        (workdir / name).write_bytes(content)
        (workdir / name).chmod(0o644)
    log_path = workdir / "mosquitto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(workdir / "mosquitto.conf")],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        for port in ports:
            while not _accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private mosquitto not ready:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield workdir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --- the stream ---------------------------------------------------------------------------

def write_inputs(directory: Path, start: datetime) -> list[Path]:
    """One file per publisher, one JSON reading per line (DESIGN.md's payload): publisher
    k sends metric ``load_k``, a millisecond apart, so every reading is distinct."""
    per = READINGS // PUBLISHERS
    files = []
    for k in range(PUBLISHERS):
        path = directory / f"publisher-{k}.jsonl"
        with path.open("w") as out:
            for i in range(per):
                ts = (start + timedelta(milliseconds=i)).isoformat()
                out.write(f'{{"ts": "{ts}", "metric": "load_{k}", '
                          f'"value": {50 + (i % 97) / 10:.1f}, "unit": "%"}}\n')
        files.append(path)
    return files


def publish(port: int, inputs: list[Path]) -> float:
    """Run the publishers at full speed (QoS 1, 1000 messages in flight each); the time
    they started (monotonic)."""
    began = time.monotonic()
    procs = []
    for path in inputs:
        with path.open("rb") as stdin:
            procs.append(subprocess.Popen(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC, "-q", "1",
                 "-M", "1000", "-l"], stdin=stdin))
    for proc in procs:
        if proc.wait(TIMEOUT) != 0:
            raise BenchFailure(f"mosquitto_pub exited with {proc.returncode}")
    return began


# --- the reference: mosquitto_sub ---------------------------------------------------------

def reference_rate(port: int, inputs: list[Path]) -> float:
    """mosquitto_sub (QoS 1, to /dev/null) exits after READINGS messages."""
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC,
                            "-q", "1", "-C", str(READINGS)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # subscribed (no signal for it; a loopback CONNECT takes ~1 ms)
        began = publish(port, inputs)
        sub.wait(TIMEOUT)
        return READINGS / (time.monotonic() - began)
    except subprocess.TimeoutExpired:
        raise BenchFailure("mosquitto_sub did not receive every message") from None
    finally:
        if sub.poll() is None:
            sub.kill()


# --- the collector ------------------------------------------------------------------------

def bench_equipment(ctx, port: int) -> int:
    """An equipment with an MQTT source on the private broker and a booking checked in
    now (so the collector holds it)."""
    from bookings.models import Booking
    from equipment.models import Equipment

    from .world import POLICY

    template = Equipment.objects.get(pk=ctx.world.equipment_ids[0])
    equipment = Equipment.objects.create(
        hub_id=ctx.world.hub_id, category=template.category, name="MQTT robot cell",
        slug=f"mqtt-cell-{port}", result_source_kind="mqtt",
        result_source_url=f"mqtt://127.0.0.1:{port}",
        result_source_config={"topic": "bench/#", "format": "json"}, **POLICY)
    now = datetime.now(UTC)
    Booking.objects.create(equipment=equipment, organization_id=ctx.world.smes[0].id,
                           operator_id=ctx.world.operator_id,
                           start=now - timedelta(minutes=1), end=now + timedelta(hours=2),
                           blocked_until=now + timedelta(hours=2),
                           status=Booking.Status.CHECKED_IN,
                           checked_in_at=now - timedelta(minutes=1),
                           purpose="MQTT ingestion benchmark", price=0)
    return equipment.pk


def _stored(db, equipment_id: int, metric_like: str = "load_%") -> int:
    return db.execute("SELECT count(*) FROM trials_observation WHERE equipment_id = %s "
                      "AND metric LIKE %s", (equipment_id, metric_like)).fetchone()[0]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _until_subscribed(db, port: int, equipment_id: int) -> None:
    """Publish a marker until the collector stored one: it holds the equipment and its
    session exists from then on."""
    deadline = time.monotonic() + 60
    while not _stored(db, equipment_id, "marker"):
        if time.monotonic() > deadline:
            raise BenchFailure("the collector never subscribed")
        ts = datetime.now(UTC).isoformat()
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC,
                        "-q", "1", "-m", f'{{"ts": "{ts}", "metric": "marker", "value": 1}}'],
                       check=True, timeout=10)
        time.sleep(0.5)


def collector_rate(ctx, port: int, inputs: list[Path]) -> tuple[float, int, float]:
    """Readings/s stored by run_collector, the readings stored, and its CPU seconds per
    second during the run."""
    equipment_id = bench_equipment(ctx, port)
    with ExitStack() as stack:
        proc = subprocess.Popen([sys.executable, "manage.py", "run_collector", "--name",
                                 "bench-mqtt", "--interval", "0.5"], cwd=ROOT, env=ctx.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stack.callback(_stop, proc)
        db = stack.enter_context(connect(ctx.url, autocommit=True))
        _until_subscribed(db, port, equipment_id)
        cpu_before = _cpu_seconds(proc.pid)
        began = publish(port, inputs)
        stored = 0
        while stored < READINGS and time.monotonic() - began < TIMEOUT:
            if proc.poll() is not None:
                raise BenchFailure(f"run_collector exited: {proc.stderr.read()[-2000:]}")
            time.sleep(0.1)
            stored = _stored(db, equipment_id)
        elapsed = time.monotonic() - began
        cpu = _cpu_seconds(proc.pid) - cpu_before
        time.sleep(1.0)  # anything more (a duplicate) would show now
        stored = _stored(db, equipment_id)
    return READINGS / elapsed, stored, cpu / elapsed


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# --- the figure ---------------------------------------------------------------------------

def mqtt_ingestion(ctx) -> list[Figure]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp, \
            mosquitto(BROKER_CONFIG.replace("{port}", str(port)), [port]):
        inputs = write_inputs(Path(tmp), datetime.now(UTC).replace(microsecond=0))
        reference = reference_rate(port, inputs)
        rate, stored, cpu_share = collector_rate(ctx, port, inputs)
    if stored != READINGS:
        raise BenchFailure(f"MQTT ingestion: {stored:,} of {READINGS:,} readings stored "
                           f"(loss {READINGS - stored:,})")
    return [Figure(
        f"MQTT ingestion through the collector, readings/s ({READINGS:,} JSON readings, "
        f"{PUBLISHERS} mosquitto_pub at QoS 1 → run_collector → PostgreSQL; loss 0; "
        f"collector CPU {cpu_share:.2f} s/s; private mosquitto, unlimited queues)",
        rate, "readings/s",
        "plain mosquitto_sub -q 1 to /dev/null, same stream and broker, readings/s",
        reference, "readings/s", target=0.5, percent=True)]


def main() -> int:
    from .harness import markdown_table
    from .run import prepare

    print(markdown_table(mqtt_ingestion(prepare())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
