"""``make loadtest``: a bounded Locust run against the production shape — gunicorn,
PostgreSQL, Redis and a Celery worker, all on loopback — then an after-check of the
database, printed as one markdown table.

    .venv/bin/python -m tests.load.run                      # 12 users, 45 s
    .venv/bin/python -m tests.load.run --users 20 --run-time 90

The run owns its database (LOAD_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/testbed_load, dropped and recreated) and its Redis
database (LOAD_REDIS_URL, default redis://127.0.0.1:6379/10, emptied first). The world:
one operator with a 24/7 hub, equipment on a one-minute grid with a one-minute
changeover buffer and the built-in demo result source (some needing approval), verified
SMEs with API keys, an operator key, and a few bookings that started in the past hours
for the operators to complete from the first second. The users are in
``tests/load/locustfile.py``. Locust starts when the next minute boundary is 10–25 s
away, so bookings made in the first seconds start, are checked in and completed (and
their trials collected) within the run.

After the load the worker gets up to DRAIN_SECONDS to finish the collections, then the
database must show: no two active bookings of one equipment overlapping (changeover
buffer included), no duplicated measurement, every completed booking's trial
collected. Exit status 1 on any 5xx, any other failed request, or any violation; the
tails of the gunicorn, worker and Locust logs are printed then.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.benchmarks import world as w
from tests.benchmarks.harness import (
    BIN,
    ROOT,
    BenchFailure,
    app_env,
    connect,
    database_url,
    flush_redis,
    gunicorn,
    migrate,
    recreate_database,
    redis_url,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/testbed_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")

EQUIPMENT = 6
SMES = 8
APPROVAL_REQUIRED = {1, 4}  # indexes of the equipment whose bookings wait for approval
# Every load equipment: any minute, 1 to 120 minutes, no lead time, one minute of
# changeover between bookings (so the buffer is exercised), results from the demo source.
POLICY = dict(slot_granularity=1, min_duration=1, max_duration=120, lead_time=0,
              changeover_buffer=1, result_source_kind="demo")
PAST_BOOKINGS = 2  # per equipment, started hours ago: work for the operators at once

GUNICORN_ARGS = ("-w", "2")
WORKER_ARGS = ("--concurrency=2",)
DRAIN_SECONDS = 60
ACTIVE = ("requested", "confirmed", "checked_in")


# ------------------------------------------------------------------------------ world


def build_world() -> dict:
    """The shared benchmark world, its equipment given the load policy. Needs
    ``django.setup()``; returns what the Locust users need."""
    from bookings import services as booking_services
    from equipment.models import Equipment, Hub
    from organizations.models import Organization
    from organizations.services import create_api_key

    world = w.build(clients=SMES)
    ids = world.equipment_ids[:EQUIPMENT]
    Equipment.objects.exclude(pk__in=ids).update(status=Equipment.Status.RETIRED)
    for i, pk in enumerate(ids):
        Equipment.objects.filter(pk=pk).update(approval_required=i in APPROVAL_REQUIRED,
                                               **POLICY)
    operator = Organization.objects.get(pk=world.operator_id)
    _, operator_key = create_api_key(organization=operator, name="load")
    smes = {s.id: Organization.objects.get(pk=s.id) for s in world.smes}

    # Bookings that started in the past hours (made "then", so the policy accepts them).
    first = datetime.now(w.SHANGHAI).replace(second=0, microsecond=0) - timedelta(hours=3)
    n = 0
    for pk in ids:
        for j in range(PAST_BOOKINGS):
            start = first + timedelta(minutes=40 * j)
            booking_services.create_booking(
                equipment_id=pk, organization=smes[world.smes[n % SMES].id], start=start,
                end=start + timedelta(minutes=30), purpose=w.PURPOSE,
                now=start - timedelta(minutes=5))
            n += 1
    return {"hub_slug": Hub.objects.get(pk=world.hub_id).slug,
            "equipment_ids": ids,
            "smes": [{"slug": s.slug, "api_key": s.api_key} for s in world.smes],
            "operator_api_key": operator_key}


# ---------------------------------------------------------------------------- processes


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "celery"), "-A", "testbed", "worker", *WORKER_ARGS,
             "--loglevel=INFO", "-n", f"loadtest-{os.getpid()}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env={**env, "LOG_LEVEL": "INFO"}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: the pool goes with it


def stop_worker(proc: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL to the worker's whole process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # pool processes left behind
        os.killpg(proc.pid, signal.SIGKILL)


def align_to_minute() -> float:
    """Sleep until the next minute boundary is 10–25 s ahead, so bookings made in the
    first seconds (they start on the next boundaries) start during the run and the
    operators check them in and complete them before it ends. Returns the wait."""
    second = time.time() % 60
    wait = 0.0 if 35 <= second <= 50 else (35 - second) % 60
    time.sleep(wait)
    return wait


def run_locust(port: int, tmp: Path, world_file: Path, users: int, spawn_rate: int,
               seconds: int) -> int:
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s",
           "--host", f"http://127.0.0.1:{port}", "--csv", str(tmp / "stats"),
           "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"]
    env = {**os.environ, "TESTBED_LOAD_WORLD": str(world_file),
           "TESTBED_LOAD_RESULTS": str(tmp / "final")}
    with (tmp / "locust.log").open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise BenchFailure("Locust did not stop in time") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


# ------------------------------------------------------------------------ after-check

OVERLAPS = f"""
SELECT count(*) FROM bookings_booking a
JOIN bookings_booking b ON a.equipment_id = b.equipment_id AND a.id < b.id
WHERE a.status IN {ACTIVE!r} AND b.status IN {ACTIVE!r}
  AND tstzrange(a.start, a.blocked_until, '[)') && tstzrange(b.start, b.blocked_until, '[)')
"""
BUFFER_MISSING = """
SELECT count(*) FROM bookings_booking b JOIN equipment_equipment e ON e.id = b.equipment_id
WHERE b.blocked_until <> b."end" + make_interval(mins => e.changeover_buffer)
"""
DUPLICATES = """
SELECT count(*) FROM (SELECT 1 FROM trials_measurement
                      GROUP BY trial_id, metric_id, ts HAVING count(*) > 1) d
"""
UNCOLLECTED = """
SELECT count(*) FROM bookings_booking b LEFT JOIN trials_trial t ON t.booking_id = b.id
WHERE b.status = 'completed' AND (t.booking_id IS NULL OR t.status <> 'collected')
"""
COUNT_MISMATCH = """
SELECT count(*) FROM trials_trial t
WHERE t.status = 'collected' AND t.measurement_count <>
      (SELECT count(*) FROM trials_measurement m WHERE m.trial_id = t.booking_id)
"""
UNDISPATCHED = """
SELECT count(*) FROM bookings_bookingevent WHERE notified_at IS NULL
"""
CHECKS = (
    ("no two active bookings of one equipment overlap (changeover buffer included)",
     OVERLAPS),
    ("every booking blocks its equipment's changeover buffer", BUFFER_MISSING),
    ("no duplicated measurement (trial, metric, ts)", DUPLICATES),
    ("every completed booking's trial is collected", UNCOLLECTED),
    ("every collected trial's measurement_count matches its rows", COUNT_MISMATCH),
    ("every booking event was fanned out to its notifications (coalesced nudges)",
     UNDISPATCHED),
)


def backlog() -> int:
    """Task messages waiting in the broker or taken but not yet acknowledged."""
    import redis

    r = redis.Redis.from_url(redis_url())
    waiting = sum(r.llen(k) for k in r.scan_iter("celery*") if r.type(k) == b"list")
    return waiting + r.hlen("unacked")


def drain(url: str, worker: subprocess.Popen, seconds: float) -> float:
    """Wait until the worker has collected every completed trial, fanned out every
    booking event and the broker is empty (at most ``seconds``); returns the time it
    took."""
    began = time.monotonic()
    with connect(url, autocommit=True) as conn:
        while time.monotonic() - began < seconds and worker.poll() is None:
            uncollected = conn.execute(UNCOLLECTED).fetchone()[0]
            undispatched = conn.execute(UNDISPATCHED).fetchone()[0]
            if not uncollected and not undispatched and not backlog():
                break
            time.sleep(0.5)
    return time.monotonic() - began


def after_check(url: str) -> tuple[list[tuple[str, int]], dict[str, int]]:
    with connect(url) as conn:
        results = [(name, conn.execute(query).fetchone()[0]) for name, query in CHECKS]
        facts = dict(conn.execute(
            "SELECT status, count(*) FROM bookings_booking GROUP BY status").fetchall())
        facts["trials collected"] = conn.execute(
            "SELECT count(*) FROM trials_trial WHERE status = 'collected'").fetchone()[0]
        facts["measurements"] = conn.execute(
            "SELECT count(*) FROM trials_measurement").fetchone()[0]
    return results, facts


# ------------------------------------------------------------------------------ report


@dataclass
class Stats:
    rows: list[dict[str, str]]
    total: dict[str, str]
    server_errors: int  # responses with a 5xx status
    other_failures: int  # unexpected 4xx, transport errors, wrong replays
    exceptions: int  # errors raised in the locustfile's tasks
    failure_lines: list[str]
    statuses: dict[tuple[str, str], str]  # (method, name) → "201: 40, 409: 300"


FIVE_XX = re.compile(r"HTTP 5\d\d\b")


def read_stats(tmp: Path) -> Stats:
    """The final statistics the locustfile wrote (Locust's stats CSV format) once every
    user had stopped; Locust's own ``stats_*.csv`` miss the last second."""
    stats_file, failures_file = tmp / "final_stats.csv", tmp / "final_failures.csv"
    if not stats_file.exists():
        raise BenchFailure("Locust wrote no final statistics (see its log)")
    with stats_file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    if total is None or not int(total["Request Count"]):
        raise BenchFailure("Locust made no requests (see its log)")
    server_errors = other = 0
    lines = []
    if failures_file.exists():
        with failures_file.open(newline="") as f:
            for r in csv.DictReader(f):
                n = int(r["Occurrences"])
                if FIVE_XX.search(r["Error"]):
                    server_errors += n
                else:
                    other += n
                lines.append(f"{n}× {r['Method']} {r['Name']}: {r['Error'][:400]}")
    exceptions = 0
    exceptions_file = tmp / "final_exceptions.csv"
    if exceptions_file.exists():
        with exceptions_file.open(newline="") as f:
            for r in csv.DictReader(f):
                exceptions += int(r["Count"])
                lines.append(f"{r['Count']}× exception in a task: {r['Message'][:300]} "
                             f"{r['Traceback'][-300:]}")
    statuses: dict[tuple[str, str], list[str]] = {}
    outcomes = tmp / "final_outcomes.json"
    for o in json.loads(outcomes.read_text()) if outcomes.exists() else []:
        statuses.setdefault((o["method"], o["name"]), []).append(
            f"{o['status'] if o['status'] != '0' else 'no response'}: {o['count']}")
    return Stats([r for r in rows if r is not total], total, server_errors, other, exceptions,
                 lines, {k: ", ".join(v) for k, v in statuses.items()})


def _ms(value: str) -> str:
    return "" if value in ("", "N/A") else f"{float(value):,.0f}"


def table(stats: Stats, checks: list[tuple[str, int]], facts: dict[str, int],
          meta: dict[str, str]) -> str:
    lines = ["| method | endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms "
             "| statuses |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(stats.rows, key=lambda r: (r["Name"], r["Type"])):
        lines.append(f"| {r['Type']} | `{r['Name']}` | {r['Request Count']} | "
                     f"{r['Failure Count']} | {float(r['Requests/s']):.1f} | {_ms(r['50%'])} | "
                     f"{_ms(r['95%'])} | {_ms(r['99%'])} | "
                     f"{stats.statuses.get((r['Type'], r['Name']), '')} |")
    t = stats.total
    lines.append(f"| | **total** | **{t['Request Count']}** | **{t['Failure Count']}** | "
                 f"**{float(t['Requests/s']):.1f}** | {_ms(t['50%'])} | {_ms(t['95%'])} | "
                 f"{_ms(t['99%'])} | |")
    lines += ["", "| after-check | violations |", "|---|---:|",
              f"| 5xx responses | {stats.server_errors} |",
              f"| other failed requests (unexpected status, transport error) | "
              f"{stats.other_failures} |",
              f"| exceptions in the Locust tasks | {stats.exceptions} |"]
    lines += [f"| {name} | {count} |" for name, count in checks]
    lines += ["", " · ".join(f"{k}: {v}" for k, v in meta.items()),
              "", "Database afterwards: " + ", ".join(f"{k} {v}" for k, v in facts.items())]
    return "\n".join(lines)


def logged_errors(path: Path, limit: int = 3) -> str:
    """The first ERROR records of the app's JSON log, tracebacks unfolded."""
    found = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
            trace = "\n".join(str(record.get("exc_info", "")).splitlines()[-25:])
            found.append(f"[{record.get('time')}] request_id={record.get('request_id')} "
                         f"{record.get('message')}\n{trace}")
    if not found:
        return ""
    return (f"--- {path.name}: {len(found)} error record(s), the first {min(limit, len(found))}"
            " ---\n" + "\n\n".join(found[:limit]))


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path.name}: none)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- {path.name} (last {min(lines, len(text))} of {len(text)} lines) ---\n" + \
        "\n".join(text[-lines:])


# -------------------------------------------------------------------------------- main


def prepare() -> tuple[str, dict[str, str], dict]:
    # The harness reads BENCH_*; point them at this run's own database and Redis db.
    os.environ["BENCH_DATABASE_URL"] = os.environ.get("LOAD_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["BENCH_REDIS_URL"] = os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS_URL)
    url = database_url()  # refuses anything but a loopback, non-system database
    if not redis_url().startswith(("redis://127.0.0.1", "redis://localhost")):
        raise SystemExit("LOAD_REDIS_URL must point at 127.0.0.1")
    env = app_env(url)
    env.update(SECURE_SSL_REDIRECT="0", LOG_LEVEL="WARNING")  # plain HTTP on loopback
    recreate_database(url)
    flush_redis()
    migrate(env)
    os.environ.update(env)  # this process is an app process too (ORM, services)
    import django
    import django.db

    django.setup()
    world = build_world()
    django.db.connections.close_all()
    return url, env, world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--spawn-rate", type=int, default=6)
    parser.add_argument("--run-time", type=int, default=45, help="seconds of load")
    parser.add_argument("--keep", action="store_true", help="keep the logs and CSV files")
    args = parser.parse_args(argv)
    began = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="testbed-load-"))
    worker = None
    ok = False
    try:
        url, env, world = prepare()
        world_file = tmp / "world.json"
        world_file.write_text(json.dumps(world))
        worker = start_worker(env, tmp / "worker.log")
        with gunicorn(env, GUNICORN_ARGS) as server:
            try:
                waited = align_to_minute()
                locust_status = run_locust(server.port, tmp, world_file, args.users,
                                           args.spawn_rate, args.run_time)
            finally:
                shutil.copyfile(server.log, tmp / "gunicorn.log")
        if worker.poll() is not None:
            raise BenchFailure(f"the Celery worker exited ({worker.returncode})")
        drained = drain(url, worker, DRAIN_SECONDS)
        stop_worker(worker)
        stats = read_stats(tmp)
        checks, facts = after_check(url)
        meta = {"users": str(args.users), "run time": f"{args.run_time} s",
                "gunicorn": " ".join(GUNICORN_ARGS),
                "worker": " ".join(WORKER_ARGS), "aligned": f"{waited:.0f} s",
                "drain": f"{drained:.1f} s",
                "locust exit": str(locust_status),
                "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                "wall": f"{time.monotonic() - began:.0f} s"}
        print(f"\n## Testbed load test ({args.users} users, {args.run_time} s, loopback)\n")
        print(table(stats, checks, facts, meta))
        ok = not (stats.server_errors or stats.other_failures or stats.exceptions
                  or any(count for _, count in checks))
        if stats.failure_lines:
            print("\nFailed requests:\n" + "\n".join(stats.failure_lines[:30]))
        print("\nLOAD TEST " + ("PASSED" if ok else "FAILED"))
    except BenchFailure as exc:
        print(f"\nLOAD TEST FAILED: {exc}", file=sys.stderr)
    finally:
        if worker is not None:
            stop_worker(worker)
        if not ok:
            for name in ("gunicorn.log", "worker.log", "locust.log"):
                print("\n" + tail(tmp / name), file=sys.stderr)
            errors = logged_errors(tmp / "gunicorn.log")
            if errors:
                print("\n" + errors, file=sys.stderr)
            print(f"\nLogs and Locust CSV kept in {tmp}", file=sys.stderr)
        elif args.keep:
            print(f"\nLogs and Locust CSV in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
