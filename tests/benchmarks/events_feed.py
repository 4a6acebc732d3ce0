"""The events feed and a webhook endpoint's deliveries (issue 17, part 4): GET
/api/v1/events/ and /api/v1/webhooks/{id}/deliveries/, page 1 against a page 90% deep,
through gunicorn — a cursor page costs the same at any depth (ceiling 1.5×) and whatever
the caller's share of all events.

The table holds EVENTS booking events (four per completed booking: confirmed, checked
in, completed, a late note) of SMES SMEs on MACHINES machines of the bench hub, and
1/SMALL_SHARE as many again on one machine of a second, small operator, written in the
database (INSERT … SELECT over generate_series), and MESSAGES outbox messages to one
endpoint of the hub's operator. An SME's feed (one of SMES, ``1/SMES`` of the events)
seeks ``bookingevent_org_at_id``, an operator's ``bookingevent_op_at_id`` (the booking's
SME and its hub's operator are stored on each event): the small operator's page costs
what the big one's does, at any depth. The deliveries seek
``outbox_endpoint_created_id``. Everything is deleted afterwards.
"""

from __future__ import annotations

import os
import time

import psycopg

from .harness import BenchFailure, Connection, Figure, api_list, interleaved, percentile
from .world import SmallOperator

# EVENTS_BENCH_ROWS shrinks the table for a quick try; the figure is for a million.
EVENTS = int(os.environ.get("EVENTS_BENCH_ROWS", "1000000"))
BOOKINGS = EVENTS // 4
MESSAGES = EVENTS // 2
SMES = 50
MACHINES = 10
SMALL_SHARE = 100  # the small operator holds about 1/SMALL_SHARE of the events
SAMPLES = 20
LONG = "-c statement_timeout=600000"


BOOKINGS_SQL = (
    "INSERT INTO bookings_booking ({columns}) "
    "SELECT (%(m)s::bigint[])[1 + i %% %(nm)s], "
    "(%(s)s::bigint[])[1 + (i * 7919) %% %(ns)s], %(op)s, "
    "%(first)s - (i / %(nm)s + 1) * interval '1 hour', "
    "%(first)s - (i / %(nm)s + 1) * interval '1 hour' + interval '50 minutes', "
    "%(first)s - (i / %(nm)s + 1) * interval '1 hour' + interval '50 minutes', "
    "'completed', %(purpose)s, 200, '', now(), now() "
    "FROM generate_series(0, %(n)s - 1) i")


def _fill(ctx, sme_ids: list[int], machine_ids: list[int], small: SmallOperator,
          endpoint_id: int) -> float:
    from .world import BOOKING_COLUMNS, PURPOSE, local_midnight

    began = time.monotonic()
    first = local_midnight(-1)  # history: back in time from yesterday, an hour a slot
    with psycopg.connect(ctx.url, options=LONG) as conn:
        for machines, operator, n in (
                (machine_ids, ctx.world.operator_id, BOOKINGS),
                (small.machine_ids, small.id, BOOKINGS // SMALL_SHARE)):
            conn.execute(BOOKINGS_SQL.format(columns=BOOKING_COLUMNS),
                         {"m": machines, "nm": len(machines), "s": sme_ids, "ns": SMES,
                          "op": operator, "first": first, "purpose": PURPOSE, "n": n})
        conn.execute(
            "INSERT INTO bookings_bookingevent (booking_id, code, from_status, to_status, "
            "reason, at, actor_organization_id, organization_id, operator_id) "
            "SELECT b.id, 'booking.' || s.to_status, s.from_status, s.to_status, '', "
            "b.start - interval '1 day' + s.k * interval '10 hours', b.organization_id, "
            "b.organization_id, b.operator_id "
            "FROM bookings_booking b CROSS JOIN (VALUES (0, '', 'confirmed'), "
            "(1, 'confirmed', 'checked_in'), (2, 'checked_in', 'completed'), "
            "(3, 'completed', 'completed')) s(k, from_status, to_status) "
            "WHERE b.equipment_id = ANY(%s)", (machine_ids + small.machine_ids,))
        conn.execute(
            "INSERT INTO core_outboxmessage (channel, event_type, dedupe_key, recipient, "
            "endpoint_id, message_id, payload, status, attempts, last_error, ordering_key, "
            "created) SELECT 'webhook', 'booking.completed', 'bench-events:' || i, "
            "'https://bench.example/hook', %s, 'msg_bench_' || i, '{}', 'sent', 1, '', '', "
            "now() - i * interval '1 second' FROM generate_series(1, %s) i",
            (endpoint_id, MESSAGES))
        conn.commit()
        for table in ("bookings_booking", "bookings_bookingevent", "core_outboxmessage"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
    return time.monotonic() - began


def _deep(ctx, sql: str, params: tuple, depth: int) -> str:
    """The cursor DEPTH rows into a list, as the pagination class writes it."""
    from core.pagination import CursorPage

    with psycopg.connect(ctx.url) as conn:
        row = conn.execute(f"{sql} OFFSET {depth - 1} LIMIT 1", params).fetchone()
    return CursorPage.cursor_token(CursorPage.position_of(row))


def events_feed(ctx) -> list[Figure]:
    import django.db

    from core.models import WebhookEndpoint
    from core.webhooks import new_secret
    from organizations.models import Organization
    from organizations.services import create_api_key

    from . import world as w

    assert ctx.server is not None
    machine_ids = w.machines_at_bench_hub(ctx.world, MACHINES, "events")
    smes = Organization.objects.bulk_create([
        Organization(kind=Organization.Kind.SME, name=f"Events SME {i}",
                     slug=f"events-sme-{i}", verified=True) for i in range(SMES)])
    operator = Organization.objects.get(pk=ctx.world.operator_id)
    small = w.small_operator(ctx.world, "events")
    endpoint = WebhookEndpoint.objects.create(
        organization=operator, url="https://bench.example/hook", event_types=["booking.*"],
        secret=new_secret())
    _, sme_key = create_api_key(organization=smes[0], name="bench-events")
    _, operator_key = create_api_key(organization=operator, name="bench-events")
    fill_s = _fill(ctx, [s.pk for s in smes], machine_ids, small, endpoint.pk)
    visible = ("SELECT at, id FROM bookings_bookingevent WHERE organization_id = %s "
               "ORDER BY at, id")
    of_operator = ("SELECT at, id FROM bookings_bookingevent WHERE operator_id = %s "
                   "ORDER BY at, id")
    count = "SELECT count(*) FROM bookings_bookingevent WHERE {} = %s"
    with psycopg.connect(ctx.url) as conn:
        mine = conn.execute(count.format("organization_id"), (smes[0].pk,)).fetchone()[0]
        big = conn.execute(count.format("operator_id"), (operator.pk,)).fetchone()[0]
        few = conn.execute(count.format("operator_id"), (small.id,)).fetchone()[0]
        total = conn.execute("SELECT count(*) FROM bookings_bookingevent").fetchone()[0]
    sme_deep = _deep(ctx, visible, (smes[0].pk,), mine * 9 // 10)
    operator_deep = _deep(ctx, of_operator, (operator.pk,), big * 9 // 10)
    small_deep = _deep(ctx, of_operator, (small.id,), few * 9 // 10)
    deliveries_deep = _deep(ctx, "SELECT created, id FROM core_outboxmessage WHERE "
                            "endpoint_id = %s ORDER BY created DESC, id DESC", (endpoint.pk,),
                            MESSAGES * 9 // 10)
    conn = Connection(ctx.server.port, timeout=120)
    feed, deliveries = "/api/v1/events/", f"/api/v1/webhooks/{endpoint.pk}/deliveries/"
    try:
        sme_1 = api_list(conn, sme_key, feed, {})
        sme_d = api_list(conn, sme_key, feed, {"cursor": sme_deep})
        if len(sme_d()) != 50 or sme_d()[0]["id"] == sme_1()[0]["id"]:
            raise BenchFailure("the SME's deep page is not a full page of other events")
        sme1, smed = interleaved(sme_1, sme_d, SAMPLES)
        op1, opd = interleaved(api_list(conn, operator_key, feed, {}),
                                api_list(conn, operator_key, feed, {"cursor": operator_deep}),
                                SAMPLES)
        small_d = api_list(conn, small.api_key, feed, {"cursor": small_deep})
        if len(small_d()) != 50:
            raise BenchFailure("the small operator's deep page is not a full page")
        small1, smalld = interleaved(api_list(conn, small.api_key, feed, {}), small_d, SAMPLES)
        del1, deld = interleaved(api_list(conn, operator_key, deliveries, {}),
                                  api_list(conn, operator_key, deliveries,
                                       {"cursor": deliveries_deep}), SAMPLES)
    finally:
        conn.close()
        django.db.connections.close_all()
        _clean(ctx, [s.pk for s in smes], machine_ids + small.machine_ids, endpoint.pk)
        small.remove()
    k = f"{total / 1e6:.1f}M events, filled in {fill_s:.0f} s"
    return [
        Figure(f"events feed: an SME's GET /api/v1/events/ 90% deep ({mine:,} of its "
               f"events; {k}), p50 ms", percentile(smed, 50), "ms",
               "its page 1, p50 ms", percentile(sme1, 50), "ms", ceiling=1.5),
        Figure(f"events feed: the operator's page 90% deep ({big:,} events at its hub), "
               "p50 ms", percentile(opd, 50), "ms", "its page 1, p50 ms",
               percentile(op1, 50), "ms", ceiling=1.5),
        Figure(f"events feed: a small operator's page 90% deep ({few:,} events, "
               f"{few / total:.1%} of all), p50 ms", percentile(smalld, 50), "ms",
               "its page 1, p50 ms", percentile(small1, 50), "ms", ceiling=1.5),
        Figure("events feed: the small operator's page 1, p50 ms", percentile(small1, 50),
               "ms", "the big operator's page 1, p50 ms", percentile(op1, 50), "ms",
               ceiling=1.5),
        Figure(f"events feed: an SME's page 1 (1/{SMES} of the events, a seek), p50 ms",
               percentile(sme1, 50), "ms", "the operator's page 1, p50 ms",
               percentile(op1, 50), "ms"),
        Figure(f"webhook deliveries: page 90% deep ({MESSAGES:,} messages), p50 ms",
               percentile(deld, 50), "ms", "page 1, p50 ms", percentile(del1, 50), "ms",
               ceiling=1.5),
    ]


def _clean(ctx, sme_ids: list[int], machine_ids: list[int], endpoint_id: int) -> None:
    with psycopg.connect(ctx.url, options=LONG) as conn:
        conn.execute("DELETE FROM core_outboxmessage WHERE endpoint_id = %s", (endpoint_id,))
        conn.execute("DELETE FROM core_webhookendpoint WHERE id = %s", (endpoint_id,))
        # Events first: the cascade from a booking is Django's, not the database's.
        conn.execute("DELETE FROM bookings_bookingevent WHERE booking_id IN (SELECT id FROM "
                     "bookings_booking WHERE equipment_id = ANY(%s))", (machine_ids,))
        conn.execute("DELETE FROM bookings_booking WHERE equipment_id = ANY(%s)",
                     (machine_ids,))
        conn.commit()
        conn.autocommit = True
        for table in ("bookings_booking", "bookings_bookingevent", "core_outboxmessage"):
            conn.execute(f"VACUUM ANALYZE {table}")
    from equipment.models import Equipment
    from organizations.models import Organization

    Equipment.objects.filter(pk__in=machine_ids).delete()
    Organization.objects.filter(pk__in=sme_ids).delete()
