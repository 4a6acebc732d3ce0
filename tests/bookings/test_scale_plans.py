"""Two reads that must stay seeks at a million rows: what is around a slot
(``selectors.around_slot``) answered by the exclusion constraint's GiST index on both the
equipment and the period, and each side's events feed read by the organisation (SME) or
hub operator stored on each event (``selectors.events_visible_to``), never by walking
every event."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import selectors, services
from bookings.models import Booking, BookingEvent
from organizations.models import Organization
from tests.factories import HubFactory
from tests.fixtures.world import key_client, local, make_booking, make_equipment

S = Booking.Status
FEED = "/api/v1/events/"
BOOKINGS = "/api/v1/bookings/"


@pytest.mark.django_db
def test_every_recorded_event_carries_the_sme_and_the_hub_operator(equipment, sme, operator):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="Trial")
    services.reschedule_booking(booking_id=booking.pk, organization=sme, start=local(3, 9),
                                end=local(3, 11))
    services.cancel_booking(booking_id=booking.pk, organization=operator, reason="Spindle")
    events = list(BookingEvent.objects.filter(booking=booking).order_by("pk"))
    assert [e.code for e in events] == ["booking.confirmed", "booking.rescheduled",
                                        "booking.cancelled"]
    # The operator cancelled: it is the actor, the SME stays the event's organisation.
    assert events[-1].actor_organization_id == operator.pk
    assert {e.organization_id for e in events} == {sme.pk}
    assert {e.operator_id for e in events} == {operator.pk}


@pytest.mark.django_db
def test_an_smes_feed_reads_its_events_by_the_organisation_on_them(equipment, sme,
                                                                    other_sme, operator):
    mine = make_booking(equipment, sme, local(2, 9), local(2, 10))
    make_booking(equipment, other_sme, local(2, 11), local(2, 12))
    with CaptureQueriesContext(connection) as queries:
        response = key_client(sme).get(FEED)
    assert response.status_code == 200
    assert [item["booking"] for item in response.json()["results"]] == [mine.pk]
    sql = next(q["sql"] for q in queries.captured_queries
               if 'FROM "bookings_bookingevent"' in q["sql"] and "ORDER BY" in q["sql"])
    assert '"bookings_bookingevent"."organization_id" = ' in sql, sql
    assert "IN (SELECT" not in sql, sql  # no semi-join to the bookings


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "table", "key"), [(FEED, "bookings_bookingevent", "booking"),
                                                   (BOOKINGS, "bookings_booking", "id")])
def test_an_operators_list_reads_its_rows_by_the_operator_on_them(
        equipment, sme, other_sme, operator, other_operator, category, url, table, key):
    """The events feed and the bookings list: not by a join to its hubs or a semi-join to
    their bookings, so each seeks (operator, at | start, id) whatever share of the
    platform's rows the operator holds."""
    theirs = HubFactory(operator=other_operator)
    mine = [make_booking(equipment, sme, local(2, 9), local(2, 10)),
            make_booking(equipment, other_sme, local(2, 11), local(2, 12))]
    make_booking(make_equipment(theirs, category, "their-cnc"), sme, local(2, 9), local(2, 10))
    with CaptureQueriesContext(connection) as queries:
        response = key_client(operator).get(url)
    assert response.status_code == 200
    # Both SMEs' bookings at its hub, not the other operator's.
    assert [item[key] for item in response.json()["results"]] == [b.pk for b in mine]
    sql = next(q["sql"] for q in queries.captured_queries
               if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"])
    where = sql.rsplit(" WHERE ", 1)[1]  # the list's own (a subquery may come before)
    assert f'"{table}"."operator_id" = ' in where, sql
    assert "IN (SELECT" not in where and '"equipment_hub"' not in where, sql
    assert len(key_client(other_operator).get(url).json()["results"]) == 1


@pytest.mark.django_db
def test_every_booking_carries_its_hubs_operator(equipment, sme, operator):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="Trial")
    assert booking.operator_id == operator.pk
    assert Booking.objects.get(pk=booking.pk).operator_id == operator.pk


@pytest.mark.django_db
def test_organisations_neither_sme_nor_operator_see_no_events(equipment, sme):
    make_booking(equipment, sme, local(2, 9), local(2, 10))
    university = Organization.objects.create(kind=Organization.Kind.UNIVERSITY, name="U",
                                             slug="u")
    assert not selectors.events_visible_to(university).exists()
    assert not selectors.events_visible_to(None).exists()
    assert selectors.events_visible_to(sme).count() == 1


def _explain(sql: str) -> str:
    with connection.cursor() as db:
        db.execute("ANALYZE bookings_booking")
        # A few thousand rows: keep the planner off a sequential scan, as with a million.
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in db.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("read", ["around_slot", "own_active_between"])
def test_a_machines_month_is_read_by_the_exclusion_index_on_both_conditions(hub, category,
                                                                            sme, read):
    """A table with many machines' history and coming bookings: the read of one machine's
    month (``around_slot``, and the SME's own bookings the week page shows) is the
    ``booking_no_overlap`` GiST index with the equipment AND the period as its condition —
    not the period alone ANDed with the (equipment_id) B-tree, which reads every
    machine's bookings in the period (the plan an untyped parameter got), nor a bitmap of
    every active booking by status."""
    machines = [make_equipment(hub, category, f"m-{i}") for i in range(40)]
    start = local(1, 0)
    rows = []
    for n, machine in enumerate(machines):
        for k in range(60):  # history: completed, one every 5 hours back
            s = start - timedelta(days=1, hours=5 * (k + 1))
            rows.append((machine, s, s + timedelta(hours=3), S.COMPLETED))
        for k in range(20):  # the coming weeks: 2-hour bookings 9 hours apart
            s = start + timedelta(hours=9 * k, minutes=30 * (n % 4))
            rows.append((machine, s, s + timedelta(hours=2), (S.CONFIRMED, S.REQUESTED,
                                                              S.CANCELLED)[k % 3]))
    Booking.objects.bulk_create([
        Booking(equipment=m, organization=sme, operator_id=m.hub.operator_id, start=s, end=e,
                blocked_until=e, status=st, purpose="filler", price=Decimal("200.00"))
        for m, s, e, st in rows])
    target = machines[17]
    end = start + timedelta(days=30)
    with CaptureQueriesContext(connection) as queries:
        if read == "around_slot":
            found = selectors.around_slot(equipment=target, start=start, end=end,
                                          organization=sme).bookings
        else:
            found = selectors.own_active_between(sme, equipment=target, start=start, end=end)
    assert len(found) == 14  # 20 in the month, every third cancelled
    plan = _explain(queries.captured_queries[-1]["sql"])
    scan = plan.split("booking_no_overlap", 1)
    assert len(scan) == 2, plan
    condition = scan[1].split("\n")[1]
    assert "Index Cond" in condition and "equipment_id = " in condition, plan
    assert "&&" in condition, plan
    assert "BitmapAnd" not in plan, plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_around_slot_returns_the_same_with_the_typed_equipment(hub, category, sme):
    """The cast changes the plan, not the answer: what ``around_slot`` returns equals the
    bookings an ORM query of the same rule finds."""
    machine = make_equipment(hub, category, changeover_buffer=30)
    other = make_equipment(hub, category, "other")
    for day, hour, status in ((2, 9, S.CONFIRMED), (2, 13, S.CANCELLED), (2, 16, S.REQUESTED),
                              (3, 9, S.CHECKED_IN), (5, 9, S.CONFIRMED)):
        make_booking(machine, sme, local(day, hour), local(day, hour + 2), status=status)
        make_booking(other, sme, local(day, hour), local(day, hour + 2))
    start, end = local(2, 10), local(3, 10)
    around = selectors.around_slot(equipment=machine, start=start, end=end)
    expected = sorted(Booking.objects.filter(
        equipment=machine, status__in=Booking.ACTIVE, start__lt=end + timedelta(minutes=30),
        blocked_until__gt=start).values_list("start", "end", "blocked_until"))
    assert around.bookings == expected and len(expected) == 3


@pytest.mark.django_db
def test_own_active_between_is_the_smes_active_bookings_overlapping_the_period(
        hub, category, sme, other_sme, operator):
    """What the week page shows as "yours": the SME's requested, confirmed and checked-in
    bookings of that machine meeting [start, end) — not another SME's, not a cancelled
    one, not another machine's, not one whose changeover buffer alone reaches in."""
    machine = make_equipment(hub, category, changeover_buffer=60)
    other = make_equipment(hub, category, "other")
    mine = [make_booking(machine, sme, local(2, 9), local(2, 11)),
            make_booking(machine, sme, local(2, 14), local(2, 16), status=S.REQUESTED),
            make_booking(machine, sme, local(3, 8), local(3, 10), status=S.CHECKED_IN)]
    make_booking(machine, sme, local(2, 6), local(2, 8))  # ends at 8; buffer to 9
    make_booking(machine, sme, local(2, 12), local(2, 13), status=S.CANCELLED)
    make_booking(machine, other_sme, local(2, 17), local(2, 18))
    make_booking(other, sme, local(2, 9), local(2, 11))
    make_booking(machine, sme, local(3, 11), local(3, 13))  # starts at the end
    start, end = local(2, 8), local(3, 11)
    found = selectors.own_active_between(sme, equipment=machine, start=start, end=end)
    assert found == [(b.start, b.end, b.pk) for b in mine]
    assert selectors.own_active_between(operator, equipment=machine, start=start,
                                        end=end) == []
    assert selectors.own_active_between(None, equipment=machine, start=start, end=end) == []
