"""``make bench``: figures of the booking engine against PostgreSQL, each next to a
reference measured in the same run on the same machine, printed as one markdown table.

    .venv/bin/python -m tests.benchmarks.run            # the figures (≈ 30 s)
    .venv/bin/python -m tests.benchmarks.run --sweep    # compare gunicorn configurations

The run owns its database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/testbed_bench): it is dropped, recreated and
migrated each time. The app runs in production shape (DEBUG=0, Redis as broker and
cache: BENCH_REDIS_URL, default redis://127.0.0.1:6379/14, emptied first), under
gunicorn for the HTTP figures.

Adding a figure: write ``def my_benchmark(ctx: Context) -> list[Figure]`` and append it
to ``BENCHMARKS`` (e.g. ``ingestion``: the app's collection path of 10 M readings vs a
raw COPY of the same rows; availability with 10k/100k/1M bookings).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from . import world as w
from .bench_mqtt import mqtt_ingestion
from .bench_opcua import opcua
from .broker import broker_redelivery
from .cursor_pages import cursor_pages
from .events_feed import events_feed
from .free_search import free_search
from .harness import (
    BenchFailure,
    Connection,
    Figure,
    LoadResult,
    Server,
    api_get,
    app_env,
    closed_loop,
    connect,
    database_url,
    flush_redis,
    gunicorn,
    markdown_table,
    migrate,
    percentile,
    recreate_database,
    server_version,
    timed,
)
from .ingestion import ingestion
from .scaling import scaling
from .week_page import week_page

CLIENTS = 8  # concurrent connections / API clients, one equipment and one SME each
WARMUP = 1.5  # seconds of load before the measured window (connections, caches)
DURATION = 5.0  # seconds of the measured window
THROUGHPUT_ROUNDS = 3  # interleaved rounds of the booking-throughput figures

# gunicorn: 2 workers (one process per core) of 4 threads each. A creation spends part of
# its time waiting on PostgreSQL (its round trips and the commit's WAL flush), and a sync
# worker sits idle through it; threads let the process run another request's Python
# meanwhile (the GIL is released while waiting), and concurrent commits share one flush.
# `--sweep --rounds 1` (creations/s against no-op calls/s, each measured on that
# configuration): -w 2: 380/1087 (35.0 %) | -w 3: 400/1190 (33.6 %) | -w 4: 371/1192
# (31.1 %) | -w 2 gthread×4: 393/1182 (33.2 %) | -w 3 gthread×4: 376/1176 (32.0 %) |
# -w 4 gthread×2: 331/1059 (31.3 %): within noise of one another (docs/architecture.md).
GUNICORN_ARGS = ("-w", "2", "-k", "gthread", "--threads", "4")
SWEEP = (
    ("-w", "2"),
    ("-w", "3"),
    ("-w", "4"),
    ("-w", "2", "-k", "gthread", "--threads", "4"),
    ("-w", "3", "-k", "gthread", "--threads", "4"),
    ("-w", "4", "-k", "gthread", "--threads", "2"),
)

# Disjoint time ranges (days from today, hub time) so no figure's bookings meet another's.
RAW_FIRST_DAY = 3000  # figure A: far future, beyond every other range
API_FIRST_DAY = 7  # figure B: the days after, one 30-minute slot after another
STATEMENTS_FIRST_DAY = 2500  # the in-process creations that count SQL statements
BUSY_FIRST_DAY = 1  # figure C: BUSY_BOOKINGS hourly bookings from tomorrow (≈ 14 months)
BUSY_BOOKINGS = 10_000
WINDOW_DAYS = 30
SAMPLES = 50  # requests per latency figure

SLOT = timedelta(minutes=30)
PRICE = Decimal("200.00")


@dataclass
class Context:
    url: str
    env: dict[str, str]
    world: w.World
    server: Server | None = None
    # Next free slot per equipment id and per range, so repeated runs never overlap.
    cursors: dict[tuple[str, int], datetime] = field(default_factory=dict)
    busy_loaded: bool = False
    load_before: float = 0.0  # 1-minute load average before the run

    def slots(self, kind: str, equipment_id: int, first_day: int) -> Callable[[], tuple]:
        key = (kind, equipment_id)
        self.cursors.setdefault(key, w.local_midnight(first_day))

        def take() -> tuple[datetime, datetime]:
            start = self.cursors[key]
            self.cursors[key] = start + SLOT
            return start, start + SLOT

        return take


# ---------------------------------------------------------------- booking throughput

INSERT = f"""
INSERT INTO bookings_booking ({w.BOOKING_COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, 'confirmed', %s, %s, '', now(), now())
"""


def measure_raw_inserts(ctx: Context) -> LoadResult:
    """Figure A: the database's own pace on this table (GiST exclusion constraint and
    all indexes included) — 8 psycopg connections, autocommit, one row per
    transaction, each on its own equipment."""
    conns, ops = [], []
    try:
        for i in range(CLIENTS):
            conn = connect(ctx.url, autocommit=True)
            conns.append(conn)
            eq = ctx.world.equipment_ids[i]
            # Owned by another SME than the one figure B books equipment i with: creating a
            # booking reads the SME's own active bookings on the equipment (open-bookings
            # limit), and thousands of raw rows there would measure that instead (see
            # crowded_creation for that cost on its own).
            owner = ctx.world.smes[(i + 1) % CLIENTS].id
            ops.append(_insert_op(conn, eq, owner, ctx.world.operator_id,
                                  ctx.slots("raw", eq, RAW_FIRST_DAY)))
        result = closed_loop(ops, warmup=WARMUP, duration=DURATION)
    finally:
        for conn in conns:
            conn.close()
    if result.errors:
        raise BenchFailure("raw inserts failed: " + "; ".join(result.errors[:3]))
    return result


def _insert_op(conn, equipment_id: int, organization_id: int, operator_id: int,
               take) -> Callable[[], None]:
    def op() -> None:
        start, end = take()
        conn.execute(INSERT, (equipment_id, organization_id, operator_id, start, end, end,
                              w.PURPOSE, PRICE))

    return op


def _http_load(server: Server, make_op: Callable[[int, http.client.HTTPConnection],
                                                Callable[[], None]]) -> LoadResult:
    """CLIENTS keep-alive connections to ``server``, client ``i`` running ``make_op(i,
    its connection)`` back to back (see ``closed_loop``)."""
    conns = []
    try:
        ops = []
        for i in range(CLIENTS):
            conns.append(Connection(server.port, timeout=10))
            ops.append(make_op(i, conns[-1]))
        return closed_loop(ops, warmup=WARMUP, duration=DURATION)
    finally:
        for conn in conns:
            conn.close()


def measure_api_creations(ctx: Context, server: Server) -> LoadResult:
    """Figure B: POST /api/v1/bookings/ from 8 keep-alive clients, each with its own SME
    key and equipment; anything but 201 fails the benchmark."""

    def make_op(i: int, conn: http.client.HTTPConnection) -> Callable[[], None]:
        eq = ctx.world.equipment_ids[i]
        return _create_op(conn, ctx.world.smes[i].api_key, eq, ctx.slots("api", eq,
                                                                          API_FIRST_DAY))

    result = _http_load(server, make_op)
    if result.errors:
        raise BenchFailure(f"API booking creation failed ({server.label}): "
                           + "; ".join(result.errors[:3]))
    if result.completed == 0:
        raise BenchFailure(f"no booking created in the measured window ({server.label})")
    return result


def _create_op(conn: http.client.HTTPConnection, api_key: str, equipment_id: int,
               take) -> Callable[[], None]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
               "Accept": "application/json"}

    def op() -> None:
        start, end = take()
        body = json.dumps({"equipment": equipment_id, "start": start.isoformat(),
                           "end": end.isoformat(), "purpose": w.PURPOSE})
        conn.request("POST", "/api/v1/bookings/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 201:
            raise BenchFailure(f"POST /api/v1/bookings/ {start.isoformat()} → {resp.status} "
                               f"{data[:400].decode(errors='replace')}")

    return op


def measure_api_floor(ctx: Context, server: Server) -> LoadResult:
    """The least an authenticated API call costs here: GET /api/v1/ (the API root: the
    key check, from the key cache once warm, and the throttle; no query) from the same 8
    keep-alive clients."""
    result = _http_load(server, lambda i, conn: api_get(conn, ctx.world.smes[i].api_key,
                                                        "/api/v1/"))
    if result.errors:
        raise BenchFailure("GET /api/v1/ failed: " + "; ".join(result.errors[:3]))
    return result


def creation_statements(ctx: Context) -> int:
    """SQL statements one API booking creation sends (BEGIN and COMMIT aside), counted
    in this process through the same middleware, key cache and service as gunicorn's
    (after one creation that warms the key cache and the key's last-use write)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    sme, eq = ctx.world.smes[0], ctx.world.equipment_ids[0]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {sme.api_key}")
    take = ctx.slots("statements", eq, STATEMENTS_FIRST_DAY)
    counted = []
    for _ in range(2):
        start, end = take()
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/bookings/", {
                "equipment": eq, "start": start.isoformat(), "end": end.isoformat(),
                "purpose": w.PURPOSE}, content_type="application/json")
        if response.status_code != 201:
            raise BenchFailure(f"in-process creation → {response.status_code} "
                               f"{response.content[:400]!r}")
        counted.append(sum(1 for q in queries.captured_queries
                           if q["sql"].upper() not in ("BEGIN", "COMMIT")))
    return counted[-1]


def booking_throughput(ctx: Context) -> list[Figure]:
    """API booking creations against the cheapest authenticated API call (the no-op, GET
    /api/v1/), in THROUGHPUT_ROUNDS interleaved rounds; the round with the median
    creation/no-op ratio is reported, with every round's ratio in the label: on a shared
    machine the pace drifts within a minute, and interleaving keeps each ratio's two
    sides close in time. The no-op is the framework's floor on this stack (gunicorn,
    middleware, key check, throttle, rendering): raw database inserts are not a bar an
    HTTP write can meet on two shared cores. Raw inserts are measured once, for context."""
    assert ctx.server is not None
    statements = creation_statements(ctx)
    rounds = []
    for _ in range(THROUGHPUT_ROUNDS):
        api = measure_api_creations(ctx, ctx.server)
        forget_api_bookings(ctx)  # every round starts from the same bookings
        floor = measure_api_floor(ctx, ctx.server)
        rounds.append((api.rate / floor.rate, api, floor))
    rounds.sort(key=lambda r: r[0])
    _, api, floor = rounds[len(rounds) // 2]
    raw = measure_raw_inserts(ctx)
    ratios = ", ".join(f"{r[0] * 100:.1f} %" for r in rounds)
    clients = f"{CLIENTS} clients, {ctx.server.label}"
    floor_label = f"authenticated no-op API calls/s, GET /api/v1/ ({clients}, same round)"
    raw_label = f"raw psycopg inserts/s ({CLIENTS} conns, autocommit, after the rounds)"
    return [
        Figure(f"API booking creations/s ({clients}; {statements} SQL statements per "
               f"creation besides BEGIN/COMMIT; median of {len(rounds)} interleaved rounds, "
               f"ratios {ratios})", api.rate, "/s", floor_label, floor.rate, "/s",
               target=0.5, percent=True),
        # Context: what the database alone takes on this table.
        Figure(f"API booking creations/s ({clients}, the same round)", api.rate, "/s",
               raw_label, raw.rate, "/s", percent=True),
        Figure(f"API booking creation p50 latency, ms ({clients}, same round)",
               percentile(api.latencies, 50) * 1e3, "ms",
               "no-op API call p50 latency, ms (same round)",
               percentile(floor.latencies, 50) * 1e3, "ms"),
    ]


# ----------------------------------------------------------------------- availability

COUNT_SQL = """
SELECT count(*) FROM bookings_booking WHERE equipment_id = %s AND start < %s AND blocked_until > %s
"""


def load_busy_equipment(ctx: Context) -> None:
    """BUSY_BOOKINGS confirmed 30-minute bookings of the first SME, one an hour from
    tomorrow on (the half hours between stay free), on one equipment (COPY; the table
    is analysed afterwards). Once per run."""
    if ctx.busy_loaded:
        return
    ctx.busy_loaded = True
    eq, org = ctx.world.availability_equipment_id, ctx.world.smes[0].id
    first, now = w.local_midnight(BUSY_FIRST_DAY), datetime.now(UTC)
    with connect(ctx.url) as conn:
        with conn.cursor() as cur, cur.copy(
                f"COPY bookings_booking ({w.BOOKING_COLUMNS}) FROM STDIN") as copy:
            for i in range(BUSY_BOOKINGS):
                start = first + timedelta(hours=i)
                end = start + SLOT
                copy.write_row((eq, org, ctx.world.operator_id, start, end, end, "confirmed",
                                w.PURPOSE, PRICE, "", now, now))
        conn.commit()
        conn.execute("ANALYZE bookings_booking")
        conn.commit()


def availability(ctx: Context) -> list[Figure]:
    """Figure C: GET /equipment/{id}/availability/ for 30 days on an equipment with
    10k bookings, against a plain count(*) of the same window (the least any
    implementation must ask the database)."""
    import django.db

    from bookings.selectors import free_intervals
    from equipment.models import Equipment

    assert ctx.server is not None
    load_busy_equipment(ctx)
    eq_id = ctx.world.availability_equipment_id
    equipment = Equipment.objects.select_related("hub").get(pk=eq_id)
    figures = []
    windows = [("next 30 days", BUSY_FIRST_DAY), ("30 days a year ahead", BUSY_FIRST_DAY + 360)]
    conn = Connection(ctx.server.port, timeout=10)
    try:
        with connect(ctx.url, autocommit=True) as db:
            for label, first_day in windows:
                lo, hi = w.local_midnight(first_day), w.local_midnight(first_day + WINDOW_DAYS)
                in_window = db.execute(COUNT_SQL, (eq_id, hi, lo)).fetchone()[0]
                sql_ms = _ms(timed(lambda lo=lo, hi=hi: db.execute(
                    COUNT_SQL, (eq_id, hi, lo)).fetchone(), SAMPLES))
                http_ms = _ms(timed(_availability_op(conn, ctx.world.smes[0].api_key, eq_id,
                                                     lo, hi), SAMPLES))
                selector_ms = _ms(timed(lambda lo=lo, hi=hi: free_intervals(
                    equipment=equipment, start=lo, end=hi), SAMPLES))
                what = f"availability {label}, {BUSY_BOOKINGS // 1000}k bookings"
                ref = f"SQL count(*) of the window ({in_window} rows), psycopg"
                figures += [
                    Figure(f"{what}, p50 ms (HTTP)", percentile(http_ms, 50), "ms",
                           f"{ref}, p50 ms", percentile(sql_ms, 50), "ms"),
                    Figure(f"{what}, p95 ms (HTTP)", percentile(http_ms, 95), "ms",
                           f"{ref}, p95 ms", percentile(sql_ms, 95), "ms"),
                    Figure(f"{what}, free_intervals() p50 ms (in-process)",
                           percentile(selector_ms, 50), "ms",
                           f"{ref}, p50 ms", percentile(sql_ms, 50), "ms"),
                ]
    finally:
        conn.close()
        django.db.connections.close_all()
    return figures


def _availability_op(conn: http.client.HTTPConnection, api_key: str, equipment_id: int,
                     lo: datetime, hi: datetime) -> Callable[[], None]:
    path = (f"/api/v1/equipment/{equipment_id}/availability/?"
            + urlencode({"start": lo.isoformat(), "end": hi.isoformat()}))
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def op() -> None:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200 or not json.loads(data).get("free"):
            raise BenchFailure(f"GET {path} → {resp.status} {data[:400]!r}")

    return op


def crowded_creation(ctx: Context) -> list[Figure]:
    """What a creation costs when the SME already holds many active bookings on the
    equipment: one client, sequential POSTs on the busy equipment's free half hours, by
    the SME holding its BUSY_BOOKINGS bookings and, interleaved, by one holding none."""
    assert ctx.server is not None
    load_busy_equipment(ctx)
    eq = ctx.world.availability_equipment_id
    holder, newcomer = ctx.world.smes[0], ctx.world.smes[1]
    first_free = w.local_midnight(BUSY_FIRST_DAY + 200) + SLOT  # ~day 200: :30 slots free
    slot = iter(first_free + timedelta(hours=i) for i in range(10 * SAMPLES))

    def take() -> tuple[datetime, datetime]:
        start = next(slot)
        return start, start + SLOT

    conn = Connection(ctx.server.port, timeout=10)
    try:
        by_holder = _create_op(conn, holder.api_key, eq, take)
        by_newcomer = _create_op(conn, newcomer.api_key, eq, take)
        holder_s, newcomer_s = [], []
        for _ in range(3):  # warm-up
            by_holder()
            by_newcomer()
        stop_at = time.perf_counter() + 20
        for _ in range(SAMPLES // 2):
            for op, samples in ((by_holder, holder_s), (by_newcomer, newcomer_s)):
                began = time.perf_counter()
                op()
                samples.append(time.perf_counter() - began)
            if time.perf_counter() > stop_at:
                break
    finally:
        conn.close()
    k = BUSY_BOOKINGS // 1000
    return [Figure(f"API booking creation p50 ms, SME holding {k}k active bookings on the "
                   "equipment (1 client)", percentile(_ms(holder_s), 50), "ms",
                   "same equipment, SME holding none, p50 ms", percentile(_ms(newcomer_s), 50),
                   "ms")]


def _ms(samples: list[float]) -> list[float]:
    return [s * 1e3 for s in samples]


# ------------------------------------------------------------------------------- main

BENCHMARKS: list[Callable[[Context], list[Figure]]] = [
    booking_throughput, availability, crowded_creation, ingestion, scaling, mqtt_ingestion,
    opcua, cursor_pages, free_search, week_page, broker_redelivery, events_feed]


def prepare() -> Context:
    load_before = os.getloadavg()[0]
    url = database_url()
    env = app_env(url)
    recreate_database(url)
    flush_redis()
    migrate(env)
    os.environ.update(env)  # this process is an app process too (ORM, services)
    import django

    django.setup()
    return Context(url=url, env=env, world=w.build(CLIENTS), load_before=load_before)


def machine_facts(ctx: Context) -> str:
    import django

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join([
        f"- nproc: {cores}",
        f"- PostgreSQL: {server_version(ctx.url)}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"{platform.platform()}",
        f"- load average when the run began: {ctx.load_before:.2f} (other work on the machine "
        "skews every figure)",
        f"- gunicorn: {' '.join(GUNICORN_ARGS)}; load: {CLIENTS} threads in one client "
        f"process on the same machine, {WARMUP} s warm-up + {DURATION} s measured",
    ])


def forget_api_bookings(ctx: Context) -> None:
    """Delete figure B's bookings (with their events and trials), so that the next
    measurement starts from the same state: a creation's cost grows with the SME's
    active bookings on the equipment (see crowded_creation)."""
    from bookings.models import Booking

    Booking.objects.filter(equipment_id__in=ctx.world.equipment_ids,
                           start__lt=w.local_midnight(RAW_FIRST_DAY)).delete()


def sweep(ctx: Context, rounds: int) -> None:
    """Figure B and the no-op under each SWEEP configuration, interleaved over ``rounds``
    rounds (the machine may be shared: the median of interleaved runs resists a burst of
    other load better than one run each)."""
    raw = measure_raw_inserts(ctx)
    print(f"raw psycopg inserts/s ({CLIENTS} conns): {raw.rate:,.0f}")
    rates: dict[tuple[str, ...], list[tuple[float, float]]] = {args: [] for args in SWEEP}
    for r in range(rounds):
        for args in SWEEP:
            with gunicorn(ctx.env, args) as server:
                api = measure_api_creations(ctx, server)
                floor = measure_api_floor(ctx, server)
            forget_api_bookings(ctx)
            rates[args].append((api.rate, floor.rate))
            print(f"round {r + 1}, {server.label}: {api.rate:,.1f} creations/s, "
                  f"p50 {percentile(api.latencies, 50) * 1e3:.1f} ms; no-op {floor.rate:,.0f}/s",
                  flush=True)
    print(f"\n| gunicorn | creations/s, median of {rounds} | no-op calls/s | ratio | all runs |"
          "\n|---|---:|---:|---:|---|")
    for args, values in rates.items():
        api_rate = statistics.median(v[0] for v in values)
        floor_rate = statistics.median(v[1] for v in values)
        print(f"| {' '.join(args)} | {api_rate:.1f} | {floor_rate:.0f} | "
              f"{api_rate / floor_rate * 100:.1f} % | "
              f"{', '.join(f'{a:.0f}/{f:.0f}' for a, f in values)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true",
                        help="compare gunicorn configurations for booking creation")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --sweep")
    parser.add_argument("--only", action="append", choices=[b.__name__ for b in BENCHMARKS],
                        help="run only these benchmarks (repeatable)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    ctx = prepare()
    if args.sweep:
        sweep(ctx, args.rounds)
        return 0
    figures: list[Figure] = []
    with gunicorn(ctx.env, GUNICORN_ARGS) as server:
        ctx.server = server
        for bench in BENCHMARKS:
            if not args.only or bench.__name__ in args.only:
                figures += bench(ctx)
    print(f"\n## Testbed benchmarks ({time.monotonic() - began:.0f} s)\n")
    print(machine_facts(ctx) + "\n")
    print(markdown_table(figures))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailure as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
