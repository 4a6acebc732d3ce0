"""Free search (issue 17, part 1): "which equipment has a free period between A and B",
across 5,000 equipment in 200 hubs with 1M bookings — target: p50 ≤ 100 ms for a one-week
window across everything (a ceiling: the harness's ``target`` is a floor, so it is stated
in the label), with the same answer as asking ``free_intervals`` for each equipment.

The world is its own: 200 hubs (four time zones, one with DST; 24/7, office and
overnight hours), 25 machines each (30/60-minute grids, buffers, lead times, some with an
open-bookings limit per SME), and 200 COPYed bookings per machine: most of them past
(completed, cancelled, no-shows: outside the exclusion constraint's partial index), 25
active in the searched week with gaps of one to five hours, more later; one machine in
twenty is booked solid through the week. The rows are deleted afterwards, so later
figures see the tables as before.

Figures: the API's first page (and the in-process function's; and a rare match, five free
days, for which the first page looks at every candidate) against the old way of
answering the same page (``free_intervals`` one equipment at a time, in-process); and
every page of the search (all 5,000 machines looked at) against ``free_intervals`` for
each of them (timed on a sample, scaled). The sample also checks the answers are equal.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import timedelta
from urllib.parse import urlencode

import psycopg

from .harness import BenchFailure, Connection, Figure, percentile

HUBS = int(os.environ.get("FREE_BENCH_HUBS", "200"))  # shrink for a quick try
PER_HUB = 25
PER_EQUIPMENT = 200  # bookings: 5,000 × 200 = 1M
IN_WEEK = 25
LATER = 20
SAMPLES = 30
CHECKED = 250  # equipment asked one by one (reference and equality)
LONG = "-c statement_timeout=600000"  # a million-row COPY or DELETE outlasts the 10 s bound
ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/Chicago", "Asia/Kolkata")


def _hours():
    from equipment.hours import ALWAYS_OPEN, OFFICE_HOURS

    nights = {day: [["07:00", "15:00"], ["22:00", "06:00"]] for day in ALWAYS_OPEN}
    return (ALWAYS_OPEN, OFFICE_HOURS, nights)


def _world(ctx) -> tuple[list, list[int]]:
    """The hubs and machines (ORM bulk inserts); returns (hubs, equipment ids)."""
    from equipment.models import Category, Equipment, Hub

    from . import world as w

    category = Category.objects.create(name="Free-search bench", slug="free-search-bench")
    hubs = Hub.objects.bulk_create([
        Hub(operator_id=ctx.world.operator_id, name=f"Free-search hub {i}",
            slug=f"free-search-{i}", timezone=ZONES[i % len(ZONES)],
            opening_hours=_hours()[i % 3]) for i in range(HUBS)])
    machines = []
    for h, hub in enumerate(hubs):
        for j in range(PER_HUB):
            n = h * PER_HUB + j
            policy = dict(w.POLICY, slot_granularity=(30, 60)[n % 2],
                          min_duration=(60, 120, 30)[n % 3], lead_time=(0, 0, 1440)[n % 3],
                          booking_horizon=90, changeover_buffer=(0, 15, 30)[n % 3],
                          max_open_bookings_per_sme=3 if n % 10 == 0 else None)
            machines.append(Equipment(hub=hub, category=category, name=f"Free-search {n}",
                                      slug=f"free-search-{n}", **policy))
    machines = Equipment.objects.bulk_create(machines, batch_size=1000)
    return hubs, [m.pk for m in machines], category


def _fill(ctx, machines: list, sme_ids: list[int]) -> float:
    """COPY PER_EQUIPMENT bookings per machine; returns the seconds it took."""
    from . import world as w

    rng = random.Random(17)  # noqa: S311 - bench data, not secrets
    week = w.local_midnight(1)
    operator = ctx.world.operator_id
    began = time.monotonic()
    with psycopg.connect(ctx.url, options=LONG) as conn:
        with conn.cursor() as cur, cur.copy(
                f"COPY bookings_booking ({w.BOOKING_COLUMNS}) FROM STDIN") as copy:  # noqa: S608 - constants only
            rows = []
            for n, eq in enumerate(machines):
                buffer = timedelta(minutes=eq.changeover_buffer)
                periods = []
                # The past: completed mostly, some cancelled or missed.
                for k in range(PER_EQUIPMENT - IN_WEEK - LATER):
                    start = week - timedelta(days=1, hours=5 * (k + 1))
                    status = ("completed", "completed", "completed", "cancelled",
                              "no_show")[k % 5]
                    periods.append((start, start + timedelta(hours=3), status))
                # The searched week: back to back with gaps, or booked solid.
                moment = week - timedelta(hours=rng.randint(0, 6))
                for k in range(IN_WEEK):
                    if n % 20 == 7:  # booked solid
                        length, gap, status = timedelta(hours=8), buffer, "confirmed"
                    else:
                        length = timedelta(minutes=30 * rng.randint(4, 6))
                        gap = buffer + timedelta(minutes=30 * rng.randint(2, 10))
                        status = ("confirmed", "confirmed", "requested", "cancelled")[k % 4]
                    periods.append((moment, moment + length, status))
                    moment += length + gap
                for k in range(LATER):
                    start = w.local_midnight(10 + 2 * k) + timedelta(hours=9)
                    periods.append((start, start + timedelta(hours=4), "confirmed"))
                for k, (start, end, status) in enumerate(periods):
                    blocked = end + buffer
                    rows.append(f"{eq.pk}\t{sme_ids[(n + k) % len(sme_ids)]}\t{operator}\t"
                                f"{start.isoformat()}\t{end.isoformat()}\t{blocked.isoformat()}"
                                f"\t{status}\tfiller\t200.00\t\t{start.isoformat()}\t"
                                f"{start.isoformat()}\n")
                if len(rows) >= 20_000:
                    copy.write("".join(rows))
                    rows.clear()
            if rows:
                copy.write("".join(rows))
        conn.commit()
        conn.execute("ANALYZE bookings_booking")
        conn.execute("ANALYZE equipment_equipment")
        conn.commit()
    return time.monotonic() - began


def _clean(ctx, hub_ids: list[int], machine_ids: list[int], category_id: int) -> None:
    with psycopg.connect(ctx.url, options=LONG) as conn:
        conn.execute("DELETE FROM bookings_booking WHERE equipment_id = ANY(%s)", (machine_ids,))
        conn.execute("DELETE FROM equipment_equipment WHERE id = ANY(%s)", (machine_ids,))
        conn.execute("DELETE FROM equipment_hub WHERE id = ANY(%s)", (hub_ids,))
        conn.execute("DELETE FROM equipment_category WHERE id = %s", (category_id,))
        conn.commit()
        conn.execute("ANALYZE bookings_booking")
        conn.commit()


def _ms(fn, n: int = SAMPLES) -> list[float]:
    from .harness import timed

    return [t * 1e3 for t in timed(fn, n)]


def free_search(ctx) -> list[Figure]:
    from django.utils import timezone

    from bookings import search
    from bookings.selectors import free_intervals
    from equipment.models import Equipment

    from . import world as w

    assert ctx.server is not None
    hubs, machine_ids, category = _world(ctx)
    machines = list(Equipment.objects.select_related("hub").filter(pk__in=machine_ids))
    sme = ctx.world.smes[3]
    try:
        fill_s = _fill(ctx, machines, [s.id for s in ctx.world.smes])
        total = Equipment.objects.count()
        start, end = w.local_midnight(1), w.local_midnight(8)
        now = timezone.now()  # one moment for both sides: lead times move with it
        everything = Equipment.objects.select_related("hub")

        def first_page():
            return search.free_search(start=start, end=end, equipment=everything, now=now)

        page = first_page()

        def old_page():  # the old loop, for the same page's equipment
            for match in page.matches:
                free_intervals(equipment=match.equipment, start=start, end=end, now=now)

        fn_ms, old_ms = _ms(first_page), _ms(old_page)

        conn = Connection(ctx.server.port, timeout=30)
        headers = {"Authorization": f"Bearer {sme.api_key}", "Accept": "application/json"}
        path = "/api/v1/equipment/free/?" + urlencode({"start": start.isoformat(),
                                                       "end": end.isoformat()})

        def api_page():
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise BenchFailure(f"GET {path} → {resp.status} {body[:400]!r}")
            return body

        # Rare: free for five whole days — hardly any machine is, so the first page has to
        # look at every candidate (no candidate limit).
        rare_path = path + "&min_minutes=7200"

        def api_rare():
            conn.request("GET", rare_path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise BenchFailure(f"GET {rare_path} → {resp.status} {body[:400]!r}")
            return body

        try:
            api_ms = _ms(api_page)
            if len(json.loads(api_page())["results"]) != search.PAGE_SIZE:
                raise BenchFailure("the API's first page is not full")
            rare_ms = _ms(api_rare, 10)
            rare = json.loads(api_rare())
        finally:
            conn.close()

        # Every page: all the machines looked at, 100 matches a page.
        found: dict[int, list] = {}
        began = time.perf_counter()
        after = None
        while True:
            result = search.free_search(start=start, end=end, equipment=everything,
                                        after=after, limit=100, periods_per_equipment=10_000,
                                        now=now)
            found |= {m.equipment.pk: m.periods for m in result.matches}
            if result.next_after is None:
                break
            after = result.next_after
        all_ms = (time.perf_counter() - began) * 1e3

        # free_intervals one by one on a sample: the reference, and the same answers.
        sample = random.Random(5).sample(machines, CHECKED)  # noqa: S311 - a sample
        began = time.perf_counter()
        one_by_one = {eq.pk: free_intervals(equipment=eq, start=start, end=end, now=now)
                      for eq in sample}
        sample_ms = (time.perf_counter() - began) * 1e3
        wrong = [pk for pk, periods in one_by_one.items() if found.get(pk, []) != periods]
        if wrong:
            raise BenchFailure(f"free search differs from free_intervals for {wrong[:10]}")
        solid = sum(1 for eq in machines if eq.pk not in found)
    finally:
        _clean(ctx, [h.pk for h in hubs], machine_ids, category.pk)
    scale = len(machines) / CHECKED
    world = (f"{total:,} equipment ({len(machines):,} in {len(hubs)} hubs), "
             f"{len(machines) * PER_EQUIPMENT / 1e6:.1f}M bookings COPYed in {fill_s:.0f} s")
    old = (f"free_intervals one equipment at a time for the same {len(page.matches)}, "
           "in-process, p50 ms")
    every = f"free_intervals for each, timed on {CHECKED} and scaled (answers equal)"
    return [
        Figure(f"free search: API GET /equipment/free/, one week across {world}, first page "
               f"p50 ms (target ≤ 100 ms)", percentile(api_ms, 50), "ms", old,
               percentile(old_ms, 50), "ms"),
        Figure(f"free search: API, same week, free for five days (rare: {len(rare['results'])} "
               f"matches{', every candidate looked at' if rare['next'] is None else ''}), "
               "first page p50 ms", percentile(rare_ms, 50), "ms", every,
               sample_ms * scale, "ms"),
        Figure("free search: free_search() in-process, same query, first page p50 ms",
               percentile(fn_ms, 50), "ms", old, percentile(old_ms, 50), "ms"),
        Figure(f"free search: every page (all {total:,} equipment, {len(found):,} with free "
               f"time, {solid} booked solid), total ms", all_ms, "ms",
               every, sample_ms * scale, "ms"),
    ]
