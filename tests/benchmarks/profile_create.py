"""Where a booking creation spends its time: POST /api/v1/bookings/ in a loop through
django.test.Client (no HTTP server, one thread) against the bench database, under
cProfile, with the SQL it runs.

    .venv/bin/python -m tests.benchmarks.profile_create [-n 200] [--sort tottime]

Recreates the bench database like ``tests.benchmarks.run``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time

from . import world as w
from .run import API_FIRST_DAY, measure_raw_inserts, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="requests to profile")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--limit", type=int, default=40, help="rows of the profile")
    parser.add_argument("--out", help="also write the raw profile here (pstats format)")
    parser.add_argument("--after-raw", action="store_true",
                        help="first run figure A (raw inserts), as the benchmark does")
    args = parser.parse_args(argv)

    ctx = prepare()
    if args.after_raw:
        raw = measure_raw_inserts(ctx)
        print(f"figure A first: {raw.rate:,.0f} raw inserts/s")
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {ctx.world.smes[0].api_key}")
    eq = ctx.world.equipment_ids[0]
    take = ctx.slots("api", eq, API_FIRST_DAY)

    def post():
        start, end = take()
        resp = client.post("/api/v1/bookings/", data=json.dumps({
            "equipment": eq, "start": start.isoformat(), "end": end.isoformat(),
            "purpose": w.PURPOSE}), content_type="application/json")
        if resp.status_code != 201:
            raise SystemExit(f"{resp.status_code} {resp.content[:400]!r}")

    for _ in range(10):  # warm-up: imports, connection, URL resolver caches
        post()
    with CaptureQueriesContext(connection) as queries:
        post()
    print(f"SQL of one creation ({len(queries)} queries):")
    for q in queries.captured_queries:
        print(f"  {q['time']}s  {q['sql'][:160]}")

    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for _ in range(args.n):
        post()
    profiler.disable()
    elapsed = time.perf_counter() - began
    if args.out:
        profiler.dump_stats(args.out)
    print(f"\n{args.n} creations in {elapsed:.2f} s under cProfile: "
          f"{elapsed / args.n * 1e3:.1f} ms each")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.limit)
    print(out.getvalue())

    began = time.perf_counter()
    for _ in range(args.n):
        post()
    elapsed = time.perf_counter() - began
    print(f"{args.n} creations without the profiler: {elapsed / args.n * 1e3:.1f} ms each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
