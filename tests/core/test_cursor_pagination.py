"""Cursor pages on the lists that grow without bound (issue 17, part 4): every row read
once however rows are inserted between pages, filters kept across pages, a tampered
cursor a 400 problem in the caller's language, the cursor in the OpenAPI schema, and a
deep page answered by an index seek on PostgreSQL."""

from __future__ import annotations

import json
from base64 import b64encode
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from bookings.models import Booking
from core.pagination import INVALID_CURSOR, INVALID_PAGE_SIZE, MAX_PAGE_SIZE, CursorPage
from organizations.models import Organization
from tests.factories import QuoteFactory
from tests.fixtures.world import key_client, local, make_booking, make_equipment

URL = "/api/v1/bookings/"


@pytest.fixture
def machines(hub, category):
    """Three machines of one hub: bookings at the same hour on each tie on ``start``."""
    return [make_equipment(hub, category, f"cnc-{i}") for i in range(3)]


def _book(machines, sme, day: int, hour: int, *, status=Booking.Status.CONFIRMED):
    return [make_booking(m, sme, local(day, hour), local(day, hour + 1), status=status)
            for m in machines]


def _query(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}


def _walk(client, params: dict, *, between=None) -> list[list[int]]:
    """The ids of every page, following ``next`` (calling ``between`` after each page)."""
    pages = []
    response = client.get(URL, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}  # no count on a cursor list
        pages.append([row["id"] for row in body["results"]])
        if between:
            between(len(pages))
        if not body["next"]:
            return pages
        response = client.get(URL, _query(body["next"]))


def _order(ids) -> list[int]:
    rows = Booking.objects.filter(pk__in=ids).order_by("start", "id")
    return [b.pk for b in rows]


@pytest.mark.django_db
def test_every_booking_is_read_once_while_bookings_are_inserted_between_pages(
        machines, sme, operator):
    before = [b.pk for day in (2, 3, 4) for hour in (9, 11, 13) for b in _book(machines, sme,
                                                                              day, hour)]
    added = {"early": [], "late": []}

    def insert(page: int) -> None:
        # After each of the first five pages: before the cursor (day 1, which sorts first)
        # and after it (day 9), each time tying on start across the three machines.
        if page <= 5:
            added["early"] += [b.pk for b in _book(machines, sme, 1, 8 + page)]
            added["late"] += [b.pk for b in _book(machines, sme, 9, 8 + page)]

    pages = _walk(key_client(sme), {"page_size": 4}, between=insert)
    read = [pk for page in pages for pk in page]
    assert len(read) == len(set(read))  # nothing twice
    assert set(before) <= set(read)  # nothing that was there is skipped
    assert not set(added["early"]) & set(read)  # behind the cursor when inserted
    assert set(added["late"]) <= set(read)  # ahead of it: reached in turn
    assert read == _order(read)  # (start, id) order, ties broken by id
    assert all(len(page) == 4 for page in pages[:-1])
    assert len(read) == 27 + 15


@pytest.mark.django_db
def test_previous_walks_back_over_the_same_pages(machines, sme):
    for day in (2, 3):
        for hour in (9, 12):
            _book(machines, sme, day, hour)
    client = key_client(sme)
    forward, response = [], client.get(URL, {"page_size": 5})
    while True:
        body = response.json()
        forward.append([row["id"] for row in body["results"]])
        if not body["next"]:
            break
        response = client.get(URL, _query(body["next"]))
    assert body["previous"]
    backward = [forward[-1]]
    while body["previous"]:
        body = client.get(URL, _query(body["previous"])).json()
        backward.append([row["id"] for row in body["results"]])
    assert backward[::-1] == forward
    assert body["previous"] is None and body["next"]


@pytest.mark.django_db
def test_filters_hold_across_pages(machines, sme, other_sme, hub):
    for day in (2, 3, 4, 5):
        _book(machines, sme, day, 9)
        _book(machines, sme, day, 14, status=Booking.Status.REQUESTED)
    _book(machines, other_sme, 6, 9)  # another organisation's: never listed
    client = key_client(sme)
    params = {"status": "requested", "hub": hub.slug, "after": local(3, 0).isoformat(),
              "page_size": 2}
    pages = _walk(client, params)
    ids = [pk for page in pages for pk in page]
    expected = Booking.objects.filter(organization=sme, status="requested",
                                      end__gt=local(3, 0)).order_by("start", "id")
    assert ids == [b.pk for b in expected] and len(ids) == 9
    assert len(pages) == 5  # 9 rows, 2 a page: the filters went along with every cursor


@pytest.mark.django_db
def test_an_operator_pages_through_the_bookings_at_its_hubs(machines, sme, other_sme,
                                                            other_operator, category):
    from tests.factories import HubFactory

    elsewhere = make_equipment(HubFactory(operator=other_operator, slug="elsewhere"), category,
                               "far-1")
    mine = [b.pk for day in (2, 3) for org in (sme, other_sme)
            for b in _book(machines, org, day, 9 if org == sme else 12)]
    make_booking(elsewhere, sme, local(2, 9), local(2, 10))
    pages = _walk(key_client(machines[0].hub.operator), {"page_size": 5})
    read = [pk for page in pages for pk in page]
    assert read == _order(mine)


def _cursor(position, **tokens) -> str:
    from urllib.parse import urlencode

    return b64encode(urlencode({"p": position, **tokens}).encode()).decode()


TAMPERED = {
    "not base64": "%%%",
    "base64 of nothing useful": b64encode(b"hello").decode(),
    "no position": b64encode(b"r=1").decode(),
    "position not JSON": _cursor("2026-12-01"),
    "too few values": _cursor(json.dumps(["2026-12-01T09:00:00+08:00"])),
    "an id that is not a number": _cursor(json.dumps(["2026-12-01T09:00:00+08:00", "x"])),
    "a date that is not a date": _cursor(json.dumps(["yesterday", 4])),
    "a time without its offset": _cursor(json.dumps(["2026-12-01T09:00:00", 4])),
    "a null value": _cursor(json.dumps([None, 4])),
    "an id beyond any row's": _cursor(json.dumps(["2026-12-01T09:00:00+08:00", 2**70])),
    "a year beyond the calendar": _cursor(json.dumps(["99999-12-01T09:00:00+08:00", 4])),
    "an offset": _cursor(json.dumps(["2026-12-01T09:00:00+08:00", 4]), o="3"),
    "a reverse flag that is not one": _cursor(json.dumps(["2026-12-01T09:00:00+08:00", 4]),
                                              r="yes"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_cursor_is_a_400_problem(sme_client, cursor):
    response = sme_client.get(URL, {"cursor": cursor})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid" and body["errors"] == {"cursor": [INVALID_CURSOR.text()]}


@pytest.mark.django_db
def test_a_tampered_cursor_is_explained_in_the_callers_language(sme_client):
    response = sme_client.get(URL, {"cursor": "%%%"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    with translation.override("zh-hans"):
        assert response.json()["errors"]["cursor"] == [INVALID_CURSOR.text()]


@pytest.mark.django_db
def test_a_cursor_from_a_list_in_another_order_is_refused(sme_client, sme, machines):
    """A quote list's cursor (created, id) decodes, but its values are no booking's."""
    QuoteFactory.create_batch(3, organization=sme, hub=machines[0].hub)
    quotes = sme_client.get("/api/v1/quotes/", {"page_size": 1}).json()
    response = sme_client.get(URL, {"cursor": _query(quotes["next"])["cursor"]})
    # A created time fits where a start goes: it is a valid, if odd, position.
    assert response.status_code == 200
    bad = _cursor(json.dumps([1, 2, 3]))
    assert sme_client.get(URL, {"cursor": bad}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["0", "-1", str(MAX_PAGE_SIZE + 1), "ten", "1.5"])
def test_a_page_size_out_of_range_is_a_400_problem(sme_client, size):
    response = sme_client.get(URL, {"page_size": size})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "page_size": [INVALID_PAGE_SIZE.text(max=MAX_PAGE_SIZE)]}


@pytest.mark.django_db
def test_page_size_chooses_the_length_and_defaults_to_fifty(machines, sme):
    for day in range(1, 20):
        _book(machines, sme, day, 9)  # 57 bookings
    client = key_client(sme)
    assert len(client.get(URL).json()["results"]) == 50
    assert len(client.get(URL, {"page_size": MAX_PAGE_SIZE}).json()["results"]) == 57
    first = client.get(URL, {"page_size": 7}).json()
    assert len(first["results"]) == 7 and first["previous"] is None
    assert _query(first["next"])["page_size"] == "7"


@pytest.mark.django_db
def test_quotes_page_by_cursor_newest_first(key_client, sme, hub):
    quotes = QuoteFactory.create_batch(7, organization=sme, hub=hub)
    client = key_client(sme)
    ids, params = [], {"page_size": 3}
    while True:
        body = client.get("/api/v1/quotes/", params).json()
        ids += [q["id"] for q in body["results"]]
        if not body["next"]:
            break
        params = _query(body["next"])
    # All created in the same instant, or nearly: the id breaks the tie, newest first.
    assert ids == sorted((q.pk for q in quotes), key=lambda pk: (
        next(q.created for q in quotes if q.pk == pk), pk), reverse=True)


CURSOR_LISTS = ["/api/v1/bookings/", "/api/v1/datasets/", "/api/v1/quotes/",
                "/api/v1/service-requests/"]
PAGE_LISTS = ["/api/v1/hubs/", "/api/v1/equipment/", "/api/v1/webhooks/",
              "/api/v1/agreements/", "/api/v1/calendar-feeds/", "/api/v1/statements/",
              "/api/v1/claims/", "/api/v1/vouchers/", "/api/v1/maintenance-windows/"]


@pytest.mark.django_db
def test_the_schema_documents_the_cursor_lists(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path in CURSOR_LISTS:
        operation = schema["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        assert "cursor" in params and "page" not in params, path
        assert params["page_size"]["schema"]["maximum"] == MAX_PAGE_SIZE
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"next", "previous", "results"}, path
    for path in PAGE_LISTS:  # bounded lists keep page numbers and their count
        params = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert "page" in params and "cursor" not in params, path


def test_a_cursor_order_is_one_direction_ending_on_a_unique_field():
    assert CursorPage.by("-created", "-id").ordering == ("-created", "-id")
    with pytest.raises(ValueError, match="one direction"):
        CursorPage.by("-start", "id")
    with pytest.raises(ValueError, match="own fields"):
        CursorPage.by("equipment__hub__slug", "id")


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(("side", "index"), [("sme", "booking_org_start_id"),
                                             ("operator", "booking_op_start_id")])
def test_a_deep_page_seeks_the_index_on_postgres(machines, sme, operator, side, index):
    """The list's own deep-page query, explained: an index scan on (organization, start,
    id) for the SME, (operator, start, id) for the hub's operator, with the cursor's row
    comparison as its index condition; no sort, no scan of the rows before the cursor."""
    for day in (2, 3):
        _book(machines, sme, day, 9)
    first = Booking.objects.filter(organization=sme).order_by("start", "id").first()
    page = CursorPage.by("start", "id")
    cursor = page.cursor_token(page.position_of([first.start, first.pk]))
    caller = {"sme": sme, "operator": operator}[side]
    with CaptureQueriesContext(connection) as queries:
        response = key_client(caller).get(URL, {"cursor": cursor, "page_size": 2})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == _order(
        Booking.objects.exclude(pk=first.pk).values_list("pk", flat=True))[:2]
    sql = next(q["sql"] for q in queries.captured_queries
               if q["sql"].startswith("SELECT") and 'FROM "bookings_booking"' in q["sql"]
               and "ORDER BY" in q["sql"])
    with connection.cursor() as db:
        # A handful of rows: the planner would read them all and sort. Without sequential
        # and bitmap scans (which lose the order) it takes the plan it takes with a
        # million rows (make bench, cursor_pages): the ordered index scan, if the index
        # can answer the query in order at all.
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            db.execute(f"SET LOCAL {setting} = off")
        db.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in db.fetchall())
    scan = next(line for line in plan.splitlines()
                if "Scan" in line and "bookings_booking" in line)
    assert index in scan, plan
    assert "Sort" not in plan.split("SubPlan")[0], plan
    assert "ROW(" in plan, plan


@pytest.mark.django_db
def test_organisation_kinds_without_bookings_page_through_nothing(key_client):
    university = key_client(kind=Organization.Kind.UNIVERSITY)
    body = university.get(URL).json()
    assert body == {"next": None, "previous": None, "results": []}
