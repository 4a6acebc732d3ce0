"""The bookings API contract: status codes, problem+json, tenancy, idempotency, budgets."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import Booking, BookingEvent
from core.models import IdempotencyKey
from tests.factories import OrganizationFactory
from tests.fixtures.world import booking_body, key_client, local, make_equipment

pytestmark = pytest.mark.django_db
URL = "/api/v1/bookings/"


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)  # plus code, errors, extras
    assert body["status"] == status
    return body


def test_create_returns_201_with_contract_fields(sme_client, equipment, sme):
    r = sme_client.post(URL, booking_body(equipment, local(2, 9), local(2, 11)), format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    booking = Booking.objects.get()
    assert body == {
        "id": booking.pk, "equipment": equipment.pk, "equipment_name": "DMU 50",
        "hub": "yizhuang", "organization": sme.slug,
        # shown in the hub's time zone
        "start": local(2, 9).isoformat(), "end": local(2, 11).isoformat(),
        "status": "confirmed", "purpose": "Trial: titanium bracket roughing",
        "price": "800.00", "trial_lead": None, "decision_reason": "", "decided_at": None,
        "checked_in_at": None, "completed_at": None, "created": body["created"],
        "trial": booking.pk, "cancellation_reason": None, "cancellation_reason_code": None,
        "usage": {"booked_hours": "2.00", "actual_hours": None, "actual_start": None,
                  "actual_end": None},
        "quote": {
            "id": booking.quote_id, "status": "booked", "currency": "CNY", "total": "800.00",
            "voucher_total": "0.00", "sme_total": "800.00", "voucher_grant": None,
            "if_voucher_short": "sme_pays",
            "lines": [{"position": 1, "kind": "usage", "description": body["quote"]["lines"][0]
                       ["description"], "equipment": equipment.pk, "item": None,
                       "start": local(2, 9).isoformat(), "end": local(2, 11).isoformat(),
                       "quantity": "2.0000", "unit": "hour", "unit_price": "400.00",
                       "amount": "800.00", "voucher_share": "0.00", "sme_share": "800.00"}]}}
    assert body["quote"]["lines"][0]["description"].startswith("DMU 50")
    assert body["start"].endswith("+08:00")
    assert body["created"] == booking.created.astimezone(local(0, 0).tzinfo).isoformat()


def test_policy_violations_are_400_with_every_rule(sme_client, equipment):
    r = sme_client.post(URL, booking_body(equipment, local(2, 9, 10), local(2, 9, 40)),
                        format="json")
    body = problem(r, 400)
    assert body["errors"] == {
        "start": ["Bookings start and end on 30 min steps in the hub's time zone "
                  "(China Standard Time, UTC+08:00)."],
        "end": ["A booking lasts at least 1 h."]}
    assert Booking.objects.count() == 0


def test_conflict_is_409_with_the_slot(sme_client, equipment, other_sme):
    services.create_booking(equipment_id=equipment.pk, organization=other_sme,
                            start=local(2, 9), end=local(2, 11), purpose="x")
    r = sme_client.post(URL, booking_body(equipment, local(2, 10), local(2, 12)), format="json")
    body = problem(r, 409)
    assert body["code"] == "slot_taken"
    assert len(body["conflicts"]) == 1
    assert "organization" not in body["conflicts"][0]  # who holds it is not revealed


def test_changeover_buffer_conflict(sme_client, hub, category, other_sme):
    eq = make_equipment(hub, category, "printer", changeover_buffer=60)
    services.create_booking(equipment_id=eq.pk, organization=other_sme, start=local(2, 9),
                            end=local(2, 11), purpose="x")
    r = sme_client.post(URL, booking_body(eq, local(2, 11, 30), local(2, 13)), format="json")
    assert problem(r, 409)["code"] == "changeover_buffer"
    r = sme_client.post(URL, booking_body(eq, local(2, 8), local(2, 9)), format="json")
    assert problem(r, 409)["code"] == "changeover_buffer"
    r = sme_client.post(URL, booking_body(eq, local(2, 12), local(2, 13)), format="json")
    assert r.status_code == 201


@pytest.mark.parametrize("patch,field", [
    ({"start": "2030-01-01T09:00:00"}, "start"),
    ({"end": "2030-01-01T09:00:00"}, "end"),
    ({"equipment": 999999}, "equipment"),
    ({"purpose": ""}, "purpose"),
    ({"start": "not a time"}, "start"),
])
def test_bad_input_is_400_and_writes_nothing(sme_client, equipment, patch, field):
    body = {**booking_body(equipment, local(2, 9), local(2, 11)), **patch}
    r = sme_client.post(URL, body, format="json")
    assert field in problem(r, 400)["errors"]
    assert Booking.objects.count() == 0 and BookingEvent.objects.count() == 0


def test_end_before_start(sme_client, equipment):
    r = sme_client.post(URL, booking_body(equipment, local(2, 11), local(2, 9)), format="json")
    assert problem(r, 400)["errors"] == {"end": ["The end must be after the start."]}


def test_malformed_json(sme_client):
    r = sme_client.post(URL, data='{"equipment": 1,', content_type="application/json")
    problem(r, 400)
    assert Booking.objects.count() == 0


def test_operator_and_university_cannot_book(operator_client, equipment, db):

    uni = OrganizationFactory(university=True, slug="uni", name="Uni")
    for client in (operator_client, key_client(uni)):
        r = client.post(URL, booking_body(equipment, local(2, 9), local(2, 11)), format="json")
        problem(r, 403)


def test_tenancy_other_smes_booking_is_404(sme_client, equipment, other_sme, other_operator):
    theirs = services.create_booking(equipment_id=equipment.pk, organization=other_sme,
                                     start=local(2, 9), end=local(2, 11), purpose="secret plan")
    problem(sme_client.get(f"{URL}{theirs.pk}/"), 404)
    problem(sme_client.post(f"{URL}{theirs.pk}/cancel/", {}, format="json"), 404)
    problem(key_client(other_operator).get(f"{URL}{theirs.pk}/"), 404)
    assert len(sme_client.get(URL).json()["results"]) == 0
    theirs.refresh_from_db()
    assert theirs.status == "confirmed"


def test_operator_sees_bookings_on_its_hubs_and_acts(operator_client, hub, category, sme):
    eq = make_equipment(hub, category, "needs-ok", approval_required=True)
    booking = services.create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 9),
                                      end=local(2, 11), purpose="x")
    listed = operator_client.get(URL).json()
    assert [b["id"] for b in listed["results"]] == [booking.pk]
    r = operator_client.post(f"{URL}{booking.pk}/approve/", {"reason": "ok"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    r = operator_client.post(f"{URL}{booking.pk}/approve/", {}, format="json")
    assert problem(r, 409)["code"] == "illegal_transition"


def test_sme_cannot_approve_is_403(sme_client, hub, category, sme):
    eq = make_equipment(hub, category, "needs-ok", approval_required=True)
    booking = services.create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 9),
                                      end=local(2, 11), purpose="x")
    problem(sme_client.post(f"{URL}{booking.pk}/approve/", {}, format="json"), 403)


def test_list_filters(operator_client, hub, category, sme, other_sme):
    a = make_equipment(hub, category, "a")
    b = make_equipment(hub, category, "b", approval_required=True)
    services.create_booking(equipment_id=a.pk, organization=sme, start=local(2, 9),
                            end=local(2, 10), purpose="x")
    services.create_booking(equipment_id=b.pk, organization=other_sme, start=local(5, 9),
                            end=local(5, 10), purpose="x")

    def ids(query):
        return len(operator_client.get(URL + query).json()["results"])

    assert ids("") == 2
    assert ids("?status=requested") == 1
    assert ids("?status=requested&status=confirmed") == 2
    assert ids(f"?equipment={a.pk}") == 1
    assert ids(f"?hub={hub.slug}") == 2
    assert ids("?hub=elsewhere") == 0
    after = local(3, 0).isoformat().replace("+", "%2B")
    assert ids(f"?after={after}") == 1
    assert ids(f"?before={after}") == 1


def test_idempotency_key_replays_first_response(sme_client, equipment):
    body = booking_body(equipment, local(2, 9), local(2, 11))
    first = sme_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = sme_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    other = sme_client.post(URL, {**body, "purpose": "different"}, format="json",
                            HTTP_IDEMPOTENCY_KEY="k-1")
    assert problem(other, 409)["code"] == "idempotency_key_reused"
    assert Booking.objects.count() == 1


def test_idempotency_keys_are_per_organization(sme_client, equipment, other_sme):
    sme_client.post(URL, booking_body(equipment, local(2, 9), local(2, 11)), format="json",
                    HTTP_IDEMPOTENCY_KEY="shared")
    r = key_client(other_sme).post(URL, booking_body(equipment, local(3, 9), local(3, 11)),
                                   format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert r.status_code == 201
    assert Booking.objects.count() == 2


def test_failed_request_is_not_stored_under_its_key(sme_client, equipment):
    bad = booking_body(equipment, local(2, 9, 10), local(2, 11))
    assert sme_client.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    good = booking_body(equipment, local(2, 9), local(2, 11))
    assert sme_client.post(URL, good, format="json", HTTP_IDEMPOTENCY_KEY="k2").status_code == 201
    assert IdempotencyKey.objects.count() == 1


TRANSACTION_CONTROL = ("BEGIN", "COMMIT")


@pytest.mark.real_broker
@pytest.mark.django_db(transaction=True)
def test_create_query_budget(sme_client, equipment, broker_at):
    """Creating a booking (with an Idempotency-Key) costs at most 11 SQL statements (the
    rate lookup, the quote and its lines among them), BEGIN/COMMIT of the one transaction
    aside; on PostgreSQL 6, the five INSERTs being one statement (``core.db.batched_inserts``).
    transaction=True makes the request's
    transaction the outermost, as in production (inside the test's own transaction it
    would become a SAVEPOINT pair). Follow-up work (notifications) is published to the
    broker, as in production, not run in the request."""
    broker_at("memory://")
    sme_client.get(URL)  # the key's last-used time is written on first use, once a minute
    with CaptureQueriesContext(connection) as ctx:
        r = sme_client.post(URL, booking_body(equipment, local(2, 9), local(2, 11)),
                            format="json", HTTP_IDEMPOTENCY_KEY="budget")
    assert r.status_code == 201
    statements = [q["sql"] for q in ctx.captured_queries
                  if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]
    budget = 6 if connection.vendor == "postgresql" else 11
    assert len(statements) <= budget, "\n".join(sql[:90] for sql in statements)
    assert any('INSERT INTO "bookings_booking"' in sql for sql in statements)


def _list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(operator_client, hub, category, sme):
    eq = make_equipment(hub, category, "busy", min_duration=30, slot_granularity=30)

    def add(n, first_start):
        for i in range(n):
            start = first_start + timedelta(minutes=30 * i)
            services.create_booking(equipment_id=eq.pk, organization=sme, start=start,
                                    end=start + timedelta(minutes=30), purpose="x")

    add(5, local(2, 0))
    operator_client.get(URL)
    five = _list_queries(operator_client, URL)
    add(45, local(10, 0))
    assert Booking.objects.count() == 50
    assert _list_queries(operator_client, URL) == five


def test_hand_written_representation_matches_the_declared_schema(sme_client, equipment):
    from bookings.api import BookingSerializer

    r = sme_client.post(URL, booking_body(equipment, local(2, 9), local(2, 11)), format="json")
    assert list(r.json()) == list(BookingSerializer().fields)  # the same fields, in order
    assert r.json()["created"].endswith("+08:00")
