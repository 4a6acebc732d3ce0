"""The booking events feed (``/api/v1/events/``) and a booking's history
(``/api/v1/bookings/{id}/events/``): every event of the bookings the caller sees, once,
oldest first, however events are recorded between pages; never another organisation's;
filters kept across pages; bad input a 400 problem in the caller's language."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from bookings.events_api import EventPage
from bookings.models import Booking, BookingEvent
from core.pagination import INVALID_CURSOR
from organizations.models import Organization
from tests.factories import BookingEventFactory, HubFactory, UserFactory
from tests.fixtures.world import booking_body, key_client, local, make_booking, make_equipment

FEED = "/api/v1/events/"
S = Booking.Status


def history_url(booking) -> str:
    return f"/api/v1/bookings/{booking.pk}/events/"


def _query(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}


def _walk(client, url: str, params: dict, *, between=None) -> list[list[int]]:
    """The event ids of every page, following ``next`` (``between`` after each page)."""
    pages, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append([item["id"] for item in body["results"]])
        if between:
            between(len(pages))
        if not body["next"]:
            return pages
        response = client.get(url, _query(body["next"]))


def _in_order(ids) -> list[int]:
    return list(BookingEvent.objects.filter(pk__in=ids).order_by("at", "id")
                .values_list("pk", flat=True))


def _events(booking, moments) -> list[int]:
    return [BookingEventFactory(booking=booking, at=moment).pk for moment in moments]


@pytest.fixture
def machines(hub, category):
    return [make_equipment(hub, category, f"cnc-{i}") for i in range(2)]


@pytest.mark.django_db
def test_every_event_is_read_once_while_events_are_recorded_between_pages(machines, sme):
    bookings = [make_booking(m, sme, local(day, 9), local(day, 10))
                for day in (2, 3) for m in machines]
    base = local(0, 8)
    # Four events at each of three moments: ties on ``at`` broken by the id.
    before = [pk for b in bookings for pk in _events(b, [base + timedelta(hours=h)
                                                         for h in (1, 2, 3)])]
    before += [e.pk for b in bookings for e in b.events.all() if e.pk not in before]
    added = {"early": [], "late": []}

    def record(page: int) -> None:
        if page <= 4:  # behind the cursor (an event back-dated) and ahead of it (now)
            added["early"] += _events(bookings[page % 4], [base - timedelta(days=1)])
            added["late"] += _events(bookings[page % 4], [base + timedelta(days=5, hours=page)])

    pages = _walk(key_client(sme), FEED, {"page_size": 3}, between=record)
    read = [pk for page in pages for pk in page]
    assert len(read) == len(set(read))  # none twice
    assert set(before) <= set(read)  # none skipped
    assert not set(added["early"]) & set(read)
    assert set(added["late"]) <= set(read)  # new events show on the pages still to come
    assert read == _in_order(read)  # oldest first, ties by id
    assert all(len(page) == 3 for page in pages[:-1])
    assert len(read) == len(before) + len(added["late"]) == 16 + 4


@pytest.mark.django_db
def test_an_item_is_the_event_as_recorded_in_the_hubs_offset(sme, operator, equipment):
    """A real booking's history: booked with an SME key, cancelled by an operator's user
    (via the service, as the portal does) with a reason."""
    from bookings import services

    sme_client, operator_client = key_client(sme), key_client(operator)
    created = sme_client.post("/api/v1/bookings/", booking_body(equipment, local(2, 9),
                                                                local(2, 11)), format="json")
    assert created.status_code == 201, created.content
    booking_id = created.json()["id"]
    person = UserFactory(email="planner@autoworks.example")
    services.cancel_booking(booking_id=booking_id, organization=operator,
                            reason="Spindle repair", by_user=person)

    items = sme_client.get(FEED).json()["results"]
    assert [(i["from_status"], i["to_status"]) for i in items] == [
        ("", "confirmed"), ("confirmed", "cancelled")]
    booked, cancelled = items
    events = list(BookingEvent.objects.filter(booking_id=booking_id).order_by("at", "id"))
    assert booked == {
        "id": events[0].pk, "event": events[0].code, "booking": booking_id,
        "equipment": equipment.pk, "from_status": "", "to_status": "confirmed",
        "at": events[0].at.astimezone(local(0, 0).tzinfo).isoformat(), "reason": "",
        "reason_code": None, "by": {"user": None, "organization": sme.slug}}  # an API key
    assert booked["at"].endswith("+08:00")
    assert cancelled["event"] == "booking.cancelled" and cancelled["reason"] == "Spindle repair"
    assert cancelled["by"] == {"user": "planner@autoworks.example", "organization": operator.slug}
    # The operator reads the same events of its hub; the booking's history says the same.
    assert operator_client.get(FEED).json()["results"] == items
    assert sme_client.get(history_url(Booking.objects.get(pk=booking_id))).json()[
        "results"] == items


@pytest.mark.django_db
def test_another_organisations_events_never_appear(machines, sme, other_sme, operator,
                                                    other_operator, category):
    mine = make_booking(machines[0], sme, local(2, 9), local(2, 10))
    theirs = make_booking(machines[1], other_sme, local(2, 9), local(2, 10))
    elsewhere = make_booking(
        make_equipment(HubFactory(operator=other_operator, slug="elsewhere"), category, "far"),
        sme, local(3, 9), local(3, 10))
    for booking in (mine, theirs, elsewhere):
        _events(booking, [local(0, 1), local(0, 2)])

    def read(org: Organization, **params) -> set[int]:
        return {i["booking"] for page in [key_client(org).get(FEED, {"page_size": 500,
                                                                       **params}).json()]
                for i in page["results"]}

    assert read(sme) == {mine.pk, elsewhere.pk}  # its own bookings, at any hub
    assert read(other_sme) == {theirs.pk}
    assert read(operator) == {mine.pk, theirs.pk}  # the bookings at its hubs
    assert read(other_operator) == {elsewhere.pk}
    # Naming another's booking in the filter finds nothing rather than its events.
    assert read(sme, booking=theirs.pk) == set()
    university = Organization.objects.create(name="Uni", slug="uni",
                                             kind=Organization.Kind.UNIVERSITY)
    assert key_client(university).get(FEED).json() == {"next": None, "previous": None,
                                                       "results": []}


@pytest.mark.django_db
def test_a_bookings_history_is_its_own_and_another_organisations_is_not_found(
        machines, sme, other_sme, operator, other_operator):
    mine = make_booking(machines[0], sme, local(2, 9), local(2, 10))
    theirs = make_booking(machines[1], other_sme, local(2, 9), local(2, 10))
    _events(mine, [local(0, 1), local(0, 2), local(0, 3)])
    _events(theirs, [local(0, 1)])
    pages = _walk(key_client(sme), history_url(mine), {"page_size": 2})
    assert [pk for page in pages for pk in page] == _in_order(
        mine.events.values_list("pk", flat=True))
    assert len(pages) == 2
    assert key_client(operator).get(history_url(mine)).status_code == 200
    for org in (sme, other_operator):
        response = key_client(org).get(history_url(theirs) if org == sme else history_url(mine))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "booking_not_found"
    assert key_client(sme).get(f"/api/v1/bookings/{2**70}/events/").status_code == 404


@pytest.mark.django_db
def test_filters_hold_across_pages(machines, sme):
    one = make_booking(machines[0], sme, local(2, 9), local(2, 10))
    two = make_booking(machines[1], sme, local(2, 9), local(2, 10))
    since = local(0, 12)
    for booking in (one, two):
        for hour in range(8, 18):
            BookingEventFactory(booking=booking, at=local(0, hour),
                                to_status=S.CANCELLED if hour % 2 else S.CONFIRMED)
    client = key_client(sme)
    params = {"booking": one.pk, "to_status": "cancelled", "since": since.isoformat(),
              "page_size": 1}
    pages = _walk(client, FEED, params)
    expected = BookingEvent.objects.filter(booking=one, to_status="cancelled", at__gte=since)
    assert [pk for page in pages for pk in page] == _in_order(expected.values_list("pk",
                                                                                   flat=True))
    assert len(pages) == 3  # 13:00, 15:00, 17:00 — ``since`` is inclusive:
    at_since = BookingEventFactory(booking=one, at=since, to_status=S.CANCELLED)
    first = client.get(FEED, {**params, "page_size": 10}).json()["results"]
    assert first[0]["id"] == at_since.pk
    # Several statuses at once, as on the bookings list.
    both = client.get(history_url(two), {"to_status": ["cancelled", "confirmed"],
                                         "page_size": 500}).json()["results"]
    assert len(both) == 10 + 1  # and the event of its making (confirmed)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [FEED, "history"])
def test_a_bad_since_is_a_400_problem_in_the_callers_language(sme, equipment, url):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 10))
    path = history_url(booking) if url == "history" else FEED
    client = key_client(sme)
    english = client.get(path, {"since": "yesterday"})
    chinese = client.get(path, {"since": "yesterday"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    for response in (english, chinese):
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "invalid"
    with translation.override("en"):
        assert english.json()["errors"] == {"since": [str(translation.gettext(
            "Enter a valid date/time."))]}
    with translation.override("zh-hans"):
        assert chinese.json()["errors"] == {"since": [str(translation.gettext(
            "Enter a valid date/time."))]}
    assert english.json()["errors"] != chinese.json()["errors"]
    # A time without its offset is refused, never read in some zone.
    naive = client.get(path, {"since": "2026-12-01T09:00:00"})
    assert naive.status_code == 400 and "since" in naive.json()["errors"]
    assert client.get(path, {"to_status": "lost"}).status_code == 400
    if url == FEED:
        assert client.get(path, {"booking": "-3"}).status_code == 400


def _cursor(position: str) -> str:
    return b64encode(urlencode({"p": position}).encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", [
    "%%%", _cursor("not json"), _cursor(json.dumps(["2026-12-01T09:00:00+08:00"])),
    _cursor(json.dumps(["2026-12-01T09:00:00", 5])), _cursor(json.dumps(["soon", 5])),
])
def test_a_tampered_cursor_is_a_400_problem(sme, equipment, cursor):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 10))
    client = key_client(sme)
    for path in (FEED, history_url(booking)):
        response = client.get(path, {"cursor": cursor}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        with translation.override("zh-hans"):
            assert response.json()["errors"] == {"cursor": [INVALID_CURSOR.text()]}


@pytest.mark.django_db
def test_the_schema_documents_both_lists_as_cursor_pages(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path, filters in ((FEED, {"booking", "to_status", "since"}),
                          ("/api/v1/bookings/{id}/events/", {"to_status", "since"})):
        operation = schema["paths"][path]["get"]
        params = {p["name"] for p in operation["parameters"]}
        assert {"cursor", "page_size"} | filters <= params and "page" not in params, path
        assert operation["summary"] and operation["description"]
    item = schema["components"]["schemas"]["BookingEvent"]["properties"]
    assert set(item) == {"id", "event", "booking", "equipment", "from_status", "to_status",
                         "at", "reason", "reason_code", "by"}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(("side", "index"), [("sme", "bookingevent_org_at_id"),
                                             ("operator", "bookingevent_op_at_id")])
def test_a_deep_feed_page_seeks_its_sides_index_on_postgres(machines, sme, operator, side,
                                                            index):
    """A deep-page query, explained: the SME's (organization, at, id) index, the
    operator's (operator, at, id), with the cursor's row comparison as its condition, no
    sort of the events before it."""
    caller = {"sme": sme, "operator": operator}[side]
    booking = make_booking(machines[0], sme, local(2, 9), local(2, 10))
    first = BookingEvent.objects.get(pk=_events(booking, [local(0, 1)])[0])
    _events(booking, [local(0, 2), local(0, 3)])
    cursor = EventPage.cursor_token(EventPage.position_of([first.at, first.pk]))
    with CaptureQueriesContext(connection) as queries:
        response = key_client(caller).get(FEED, {"cursor": cursor, "page_size": 2})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    sql = next(q["sql"] for q in queries.captured_queries
               if 'FROM "bookings_bookingevent"' in q["sql"] and "ORDER BY" in q["sql"])
    with connection.cursor() as db:
        db.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: as with a million
        db.execute("SET LOCAL enable_sort = off")
        db.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in db.fetchall())
    assert index in plan, plan
    assert "ROW(" in plan, plan


@pytest.mark.django_db
def test_a_page_costs_the_same_queries_however_many_bookings_it_shows(machines, sme):
    client = key_client(sme)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(FEED, {"page_size": 500}).status_code == 200
        return len(captured.captured_queries)

    make_booking(machines[0], sme, local(2, 9), local(2, 10))
    queries()  # the key's first use (its lookup is cached afterwards)
    few = queries()
    actor = UserFactory()
    for day in range(3, 13):
        booking = make_booking(machines[day % 2], sme, local(day, 9), local(day, 10))
        BookingEventFactory(booking=booking, actor_user=actor, actor_organization=sme)
    assert queries() == few
