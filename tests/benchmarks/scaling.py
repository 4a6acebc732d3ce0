"""Scaling: availability and booking creation with 10k, 100k and 1M bookings in the
table. The filler is realistic history: most rows are past, completed bookings (outside
the exclusion constraint's partial GiST index), a fifth are future confirmed ones on
other equipment (inside it)."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg

from .harness import Connection, Figure, connect, percentile, timed

STAGES = (10_000, 100_000, 1_000_000)
HISTORY_EQUIPMENT = 400
SAMPLES = 30


def _fill(ctx, equipment_ids: list[int], sme_id: int, upto: int, cursor: dict) -> int:
    """COPY filler bookings until the table holds ``upto`` rows; returns the count."""
    from .world import BOOKING_COLUMNS, local_midnight

    # Filling a million rows takes longer than the harness's 10 s statement bound.
    with psycopg.connect(ctx.url, options="-c statement_timeout=300000") as conn:
        have = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
        need = max(0, upto - have)
        if not need:
            return have
        with conn.cursor() as cur, cur.copy(
                f"COPY bookings_booking ({BOOKING_COLUMNS}) FROM STDIN") as copy:
            rows = []
            for i in range(need):
                eq = equipment_ids[i % len(equipment_ids)]
                n = cursor.get(eq, 0)
                cursor[eq] = n + 1
                if n % 5 == 4:  # a future confirmed booking: in the GiST index
                    start = local_midnight(800) + timedelta(hours=n)
                    status = "confirmed"
                else:  # history
                    start = local_midnight(-1) - timedelta(hours=n)
                    status = "completed"
                end = start + timedelta(minutes=30)
                rows.append(f"{eq}\t{sme_id}\t{ctx.world.operator_id}\t{start.isoformat()}\t{end.isoformat()}\t"
                            f"{end.isoformat()}\t{status}\tfiller\t200.00\t\t"
                            f"{start.isoformat()}\t{start.isoformat()}\n")
                if len(rows) >= 10_000:
                    copy.write("".join(rows))
                    rows.clear()
            if rows:
                copy.write("".join(rows))
        conn.commit()
        conn.execute("ANALYZE bookings_booking")
        conn.commit()
        return conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]


def _start_from_busy_equipment_only(ctx) -> None:
    """Empty the booking tables (earlier figures filled them), then put back the busy
    equipment's 10k bookings: the first stage then really has 10k rows in the table."""
    from .run import load_busy_equipment

    with psycopg.connect(ctx.url, options="-c statement_timeout=300000") as conn:
        conn.execute("TRUNCATE bookings_booking RESTART IDENTITY CASCADE")
        conn.commit()
    ctx.busy_loaded = False
    load_busy_equipment(ctx)


def scaling(ctx) -> list[Figure]:
    from equipment.models import Equipment

    from . import world as w
    from .run import COUNT_SQL, WINDOW_DAYS, _availability_op, _create_op

    assert ctx.server is not None
    _start_from_busy_equipment_only(ctx)
    first = Equipment.objects.get(pk=ctx.world.equipment_ids[0])
    history = Equipment.objects.bulk_create([
        Equipment(hub_id=first.hub_id, category_id=first.category_id, name=f"History {i}",
                  slug=f"history-{i}", **w.POLICY) for i in range(HISTORY_EQUIPMENT)])
    fresh = Equipment.objects.create(hub_id=first.hub_id, category_id=first.category_id,
                                     name="Scaling probe", slug="scaling-probe", **w.POLICY)
    sme = ctx.world.smes[2]
    cursor: dict[int, int] = {}
    slots = iter(w.local_midnight(400) + timedelta(minutes=30 * i) for i in range(100_000))

    def take():
        start = next(slots)
        return start, start + timedelta(minutes=30)

    eq_busy = ctx.world.availability_equipment_id
    lo, hi = w.local_midnight(1), w.local_midnight(1 + WINDOW_DAYS)
    figures = []
    conn = Connection(ctx.server.port, timeout=30)
    try:
        for stage in STAGES:
            began = time.monotonic()
            size = _fill(ctx, [e.pk for e in history], sme.id, stage, cursor)
            fill_s = time.monotonic() - began
            with connect(ctx.url, autocommit=True) as db:
                sql_ms = [t * 1e3 for t in timed(
                    lambda db=db: db.execute(COUNT_SQL, (eq_busy, hi, lo)).fetchone(), SAMPLES)]
            avail_ms = [t * 1e3 for t in timed(
                _availability_op(conn, ctx.world.smes[0].api_key, eq_busy, lo, hi), SAMPLES)]
            create_ms = [t * 1e3 for t in timed(
                _create_op(conn, sme.api_key, fresh.pk, take), SAMPLES)]
            label = f"{size / 1000:,.0f}k" if size < 1_000_000 else f"{size / 1e6:.1f}M"
            ref = f"SQL count(*) of the window, p50 ms (table filled in {fill_s:.0f} s)"
            figures += [
                Figure(f"scaling: availability 30 days, {label} bookings in the table, p50 ms",
                       percentile(avail_ms, 50), "ms", ref, percentile(sql_ms, 50), "ms"),
                Figure(f"scaling: API booking creation, {label} bookings in the table, "
                       "p50 ms (1 client)", percentile(create_ms, 50), "ms", ref,
                       percentile(sql_ms, 50), "ms"),
            ]
    finally:
        conn.close()
    return figures
