"""Cursor lists (issue 17, part 4): GET /api/v1/bookings/ page 1 against a page 500,000
rows deep, with 1M bookings visible to one SME — target: the deep page within 1.5× of
page 1 (a ceiling: the harness's ``target`` is a floor, so it is stated in the label).

The SME's million bookings are COPYed history (completed, outside the exclusion
constraint's partial index) on their own equipment, 200 machines booked at the same
hours, so every ``start`` is shared by 200 rows and only the id tells them apart — the
case DRF's stock cursor (first field plus an offset) walks tie groups on. The deep cursor
is built with the pagination class's own encoder from the 500,000th row's (start, id).

The operator of the hub sees the same rows (and any other figure's): its deep page is
measured too, and so is a small operator's (a second flagship whose hub holds
1/SMALL_SHARE as many bookings of the same SME): each operator's list seeks
(operator, start, id) on the operator stored on each booking, so the small one's pages
cost what the big one's do, at any depth. For comparison, the old offset pagination's deep page
(COUNT plus OFFSET 500,000, as PageNumberPagination ran it) through the same ORM query,
in-process. The rows are deleted afterwards so later figures see the table as before.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import psycopg

from .harness import BenchFailure, Connection, Figure, api_list, interleaved, percentile

# CURSOR_BENCH_ROWS shrinks the table for a quick try; the figure is for a million.
ROWS = int(os.environ.get("CURSOR_BENCH_ROWS", "1000000"))
DEPTH = ROWS // 2
MACHINES = 200
SMALL_SHARE = 100  # the small operator's hub holds 1/SMALL_SHARE as many bookings
SMALL_MACHINES = 2
SAMPLES = 30
OFFSET_SAMPLES = 5
PAGE = 50
LONG = "-c statement_timeout=600000"  # a million-row COPY or DELETE outlasts the 10 s bound


def _fill(ctx, sme_id: int, equipment_ids: list[int], small) -> float:
    """COPY ROWS completed bookings of ``sme_id``, MACHINES at each past hour, and
    ROWS / SMALL_SHARE on the small operator's machines; seconds."""
    from .world import BOOKING_COLUMNS, PURPOSE, local_midnight

    began = time.monotonic()
    first = local_midnight(-1)
    with psycopg.connect(ctx.url, options=LONG) as conn:
        with conn.cursor() as cur, cur.copy(
                f"COPY bookings_booking ({BOOKING_COLUMNS}) FROM STDIN") as copy:
            rows = []
            for machines, operator, n in ((equipment_ids, ctx.world.operator_id, ROWS),
                                          (small.machine_ids, small.id, ROWS // SMALL_SHARE)):
                for i in range(n):
                    hours = timedelta(hours=i // len(machines))
                    start = (first - hours).isoformat()
                    end = (first - hours + timedelta(minutes=30)).isoformat()
                    rows.append(f"{machines[i % len(machines)]}\t{sme_id}\t{operator}\t"
                                f"{start}\t{end}\t{end}\tcompleted\t{PURPOSE}\t200.00\t\t"
                                f"{start}\t{start}\n")
                    if len(rows) >= 20_000:
                        copy.write("".join(rows))
                        rows.clear()
            copy.write("".join(rows))
        conn.commit()
        # As autovacuum would after such a change: without statistics on the 200 new
        # machines the planner guesses the operator has one, and sorts its bookings.
        for table in ("bookings_booking", "equipment_equipment", "equipment_hub"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
    return time.monotonic() - began


def _position(ctx, where: str, params: tuple, depth: int = DEPTH) -> str:
    """The position ``depth`` rows into a list (its row's start and id), as the
    pagination class writes it into a cursor."""
    from core.pagination import CursorPage

    with psycopg.connect(ctx.url, options=LONG) as conn:
        row = conn.execute(
            f"SELECT b.start, b.id FROM bookings_booking b {where} ORDER BY b.start, b.id "
            f"OFFSET {depth - 1} LIMIT 1", params).fetchone()
    return CursorPage.position_of(row)


def _offset_page_ms(org, n: int) -> list[float]:
    """The old PageNumberPagination's page DEPTH / PAGE + 1: COUNT, then OFFSET DEPTH."""
    from django.core.paginator import Paginator

    from bookings.selectors import bookings_visible_to

    qs = bookings_visible_to(org).order_by("start", "pk")
    out = []
    for _ in range(n):
        began = time.perf_counter()
        page = Paginator(qs, PAGE).page(DEPTH // PAGE + 1)
        rows = list(page.object_list)
        out.append((time.perf_counter() - began) * 1e3)
        if len(rows) != PAGE:
            raise BenchFailure(f"offset page held {len(rows)} rows")
    return out


def _cursor_page_ms(org, position: str, n: int) -> list[float]:
    """The cursor's deep page through the same ORM query, in-process (the reference for
    the offset one: same process, same serialisation-free work)."""
    from bookings.selectors import bookings_visible_to
    from core.pagination import keyset_after

    start, pk = json.loads(position)
    qs = bookings_visible_to(org).order_by("start", "pk")
    out = []
    for _ in range(n):
        began = time.perf_counter()
        rows = list(qs.filter(keyset_after(("start", "id"), [start, pk]))[:PAGE + 1])
        out.append((time.perf_counter() - began) * 1e3)
        if len(rows) != PAGE + 1:
            raise BenchFailure(f"cursor page held {len(rows)} rows")
    return out


def _plan(ctx, org_id: int, position: str) -> str:
    """EXPLAIN ANALYZE of the SME's deep page (the keyset part of the list's query)."""
    start, pk = json.loads(position)
    with psycopg.connect(ctx.url) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM bookings_booking WHERE "
            "organization_id = %s AND (start, id) > (%s::timestamptz, %s) "
            "ORDER BY start, id LIMIT 51", (org_id, start, pk)).fetchall()
    return "\n".join(r[0] for r in rows)


def cursor_pages(ctx) -> list[Figure]:
    import django.db

    from core.pagination import CursorPage
    from organizations.models import Organization
    from organizations.services import create_api_key

    from . import world as w

    assert ctx.server is not None
    machine_ids = w.machines_at_bench_hub(ctx.world, MACHINES, "cursor")
    small = w.small_operator(ctx.world, "cursor", SMALL_MACHINES)
    sme = Organization.objects.create(kind=Organization.Kind.SME, name="Cursor SME",
                                      slug="cursor-sme", verified=True)
    _, sme_key = create_api_key(organization=sme, name="bench")
    operator = Organization.objects.get(pk=ctx.world.operator_id)
    _, operator_key = create_api_key(organization=operator, name="bench-cursor")
    fill_s = _fill(ctx, sme.pk, machine_ids, small)
    sme_deep = _position(ctx, "WHERE b.organization_id = %s", (sme.pk,))
    of_operator = "WHERE b.operator_id = %s"
    operator_deep = _position(ctx, of_operator, (operator.pk,))
    with psycopg.connect(ctx.url) as conn:
        in_table = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
        few = conn.execute("SELECT count(*) FROM bookings_booking WHERE operator_id = %s",
                           (small.id,)).fetchone()[0]
    small_deep = _position(ctx, of_operator, (small.id,), few * 9 // 10)
    conn = Connection(ctx.server.port, timeout=60)
    bookings = "/api/v1/bookings/"

    def ids(op):
        return lambda: [row["id"] for row in op()]

    figures = []
    try:
        sme_first = ids(api_list(conn, sme_key, bookings))
        sme_deep_op = ids(api_list(conn, sme_key, bookings,
                                   {"cursor": CursorPage.cursor_token(sme_deep)}))
        if len(sme_deep_op()) != PAGE or sme_deep_op()[0] == sme_first()[0]:
            raise BenchFailure("the deep page is not a full page of other rows")
        page1, deep = interleaved(sme_first, sme_deep_op, SAMPLES)
        op1, op_deep = interleaved(
            api_list(conn, operator_key, bookings),
            api_list(conn, operator_key, bookings,
                     {"cursor": CursorPage.cursor_token(operator_deep)}), SAMPLES)
        small_deep_op = api_list(conn, small.api_key, bookings,
                                 {"cursor": CursorPage.cursor_token(small_deep)})
        if len(small_deep_op()) != PAGE:
            raise BenchFailure("the small operator's deep page is not a full page")
        small1, small_d = interleaved(api_list(conn, small.api_key, bookings), small_deep_op,
                                      SAMPLES)
        offset_ms = _offset_page_ms(sme, OFFSET_SAMPLES)
        keyset_ms = _cursor_page_ms(sme, sme_deep, OFFSET_SAMPLES)
        print("\ncursor_pages: the SME's deep page, EXPLAIN ANALYZE:\n"
              + _plan(ctx, sme.pk, sme_deep), flush=True)
    finally:
        conn.close()
        django.db.connections.close_all()
        _clean(ctx, sme.pk, machine_ids)
        small.remove()
    size = f"{ROWS / 1e6:g}M" if ROWS >= 1_000_000 else f"{ROWS // 1000:,}k"
    k = f"{size} bookings of one SME, {in_table / 1e6:.1f}M in the table"
    depth = f"{DEPTH:,} rows deep"
    figures += [
        Figure(f"cursor list: GET /api/v1/bookings/ {depth}, p50 ms ({k}; filled in "
               f"{fill_s:.0f} s)", percentile(deep, 50), "ms",
               "page 1, p50 ms", percentile(page1, 50), "ms", ceiling=1.5),
        Figure("cursor list: same, p95 ms", percentile(deep, 95), "ms",
               "page 1, p95 ms", percentile(page1, 95), "ms"),
        Figure(f"cursor list: the hub operator's GET /api/v1/bookings/ {depth}, p50 ms "
               f"(every booking at its hub)", percentile(op_deep, 50), "ms",
               "the operator's page 1, p50 ms", percentile(op1, 50), "ms", ceiling=1.5),
        Figure(f"cursor list: a small operator's page 90% deep ({few:,} bookings, "
               f"{few / in_table:.1%} of all), p50 ms", percentile(small_d, 50), "ms",
               "its page 1, p50 ms", percentile(small1, 50), "ms", ceiling=1.5),
        Figure("cursor list: the small operator's page 1, p50 ms", percentile(small1, 50),
               "ms", "the big operator's page 1, p50 ms", percentile(op1, 50), "ms",
               ceiling=1.5),
        Figure(f"old offset pages: page {DEPTH // PAGE + 1:,} ({depth}: COUNT + OFFSET), "
               "ORM in-process, p50 ms", percentile(offset_ms, 50), "ms",
               f"cursor page {depth}, same ORM query, p50 ms", percentile(keyset_ms, 50),
               "ms"),
    ]
    return figures


def _clean(ctx, sme_id: int, equipment_ids: list[int]) -> None:
    """Remove the SME's million rows and the machines, so later figures see the table
    (and its statistics) as before."""
    with psycopg.connect(ctx.url, options=LONG) as conn:
        conn.execute("DELETE FROM bookings_booking WHERE organization_id = %s", (sme_id,))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE bookings_booking")
    from equipment.models import Equipment

    Equipment.objects.filter(pk__in=equipment_ids).delete()
