"""The portal's week page against the availability API call behind it (issue 17): GET
/catalog/equipment/{id}/calendar/ as a logged-in member of the SME that holds the busy
equipment's bookings (so every booking shows as "yours": a booking an hour, the half hours
between free, 336 blocks a week on a 24-hour hub), one client, p50 ms; the reference is
GET /api/v1/equipment/{id}/availability/ for the same days in the same run. Target: the
page at most 3 × the API call. Also thirteen weeks on one page (``?weeks=13``) against the
API for the same 91 days."""

from __future__ import annotations

import http.client
from datetime import timedelta

from .harness import BenchFailure, Connection, Figure, collect_static, percentile, timed

SAMPLES = 40
TARGET = 3.0  # the page's p50 at most this many times the API call's


def _session_cookie(ctx) -> str:
    """A portal session of a member of the first SME (made the way a login makes one)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from organizations.models import Membership

    user, _ = get_user_model().objects.get_or_create(
        username="week-bench", defaults={"email": "week-bench@sme-1.test"})
    Membership.objects.get_or_create(user=user, organization_id=ctx.world.smes[0].id,
                                     defaults={"role": Membership.Role.MEMBER})
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"




def _page_op(conn: http.client.HTTPConnection, cookie: str, path: str):
    headers = {"Cookie": cookie, "Accept": "text/html", "Accept-Language": "en"}

    def op() -> None:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        # The page must be the week of the busy equipment, as the SME sees it.
        if resp.status != 200 or b'class="slot own"' not in data or b'class="slot free"' \
                not in data:
            raise BenchFailure(f"GET {path} → {resp.status} {data[:400]!r}")

    return op


def week_page(ctx) -> list[Figure]:
    import django.db

    # run.py is the entry point (``python -m``): import its helpers when called, not at
    # import time (run.py imports this module).
    from .run import BUSY_FIRST_DAY, _availability_op, load_busy_equipment
    from .world import local_midnight

    assert ctx.server is not None
    load_busy_equipment(ctx)
    collect_static(ctx.env)
    eq = ctx.world.availability_equipment_id
    cookie = _session_cookie(ctx)
    api_key = ctx.world.smes[0].api_key
    figures = []
    conn = Connection(ctx.server.port, timeout=10)
    try:
        for weeks in (1, 13):
            lo = local_midnight(BUSY_FIRST_DAY)
            hi = lo + timedelta(days=7 * weeks)
            path = f"/catalog/equipment/{eq}/calendar/?from={lo.date().isoformat()}"
            if weeks > 1:
                path += f"&weeks={weeks}"
            page = _page_op(conn, cookie, path)
            api = _availability_op(conn, api_key, eq, lo, hi)
            page_ms, api_ms = [], []
            for _ in range(2):  # interleaved halves: both sides see the same machine load
                page_ms += [s * 1e3 for s in timed(page, SAMPLES // 2)]
                api_ms += [s * 1e3 for s in timed(api, SAMPLES // 2)]
            what = "one week" if weeks == 1 else f"{weeks} weeks ({7 * weeks} days) on one page"
            figures.append(Figure(
                f"portal week page, {what}, busy equipment (SME's own bookings), p50 ms "
                "(HTTP, logged in)", percentile(page_ms, 50), "ms",
                f"availability API for the same {7 * weeks} days, p50 ms",
                percentile(api_ms, 50), "ms", ceiling=TARGET if weeks == 1 else None))
    finally:
        conn.close()
        django.db.connections.close_all()
    return figures
