"""The API contract of /api/v1/service-requests/: status codes, problem+json, tenancy (404),
roles (403), Idempotency-Key, times in the hub's offset, the schema."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from billing.models import ServiceRequest
from bookings.models import Booking
from tests.fixtures.world import key_client, local, make_booking, make_org

from .conftest import PDF, offer_periods

pytestmark = pytest.mark.django_db
URL = "/api/v1/service-requests/"
PROBLEM = "application/problem+json"


def body(at, pieces, **extra):
    return {"hub": at.slug, "title": "Bracket trial", "plan": "Rough and finish 20 brackets.",
            "equipment": [p.pk for p in pieces],
            "preferred_start": local(5, 9).isoformat(), "preferred_end": local(5, 17).isoformat(),
            **extra}


def offer_body(pieces, **extra):
    return {"periods": [{"equipment": e, "start": s.isoformat(), "end": t.isoformat()}
                        for e, s, t in offer_periods(pieces)],
            "items": [{"code": "ti-bar", "quantity": "4"}], "note": "Staff run both.",
            "valid_until": local(3, 18).isoformat(), **extra}


@pytest.fixture
def pieces(equipment, second_equipment, rate_card):
    return [equipment, second_equipment]


def test_submit_json_then_read_it_in_hub_time(sme_client, hub, pieces):
    response = sme_client.post(URL, body(hub, pieces), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "submitted"
    assert data["hub"] == hub.slug and data["organization"] == "precision"
    assert sorted(data["equipment"]) == sorted(p.pk for p in pieces)
    assert data["preferred_start"].endswith("+08:00")
    assert data["offer"] is None
    got = sme_client.get(f"{URL}{data['id']}/")
    assert got.status_code == 200 and got.json()["title"] == "Bracket trial"


def test_submit_multipart_with_files(sme_client, hub, pieces):
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = body(hub, pieces)
    form["attachments"] = [SimpleUploadedFile("plan.pdf", PDF)]
    response = sme_client.post(URL, form, format="multipart")
    assert response.status_code == 201, response.content
    assert [a["name"] for a in response.json()["attachments"]] == ["plan.pdf"]


def test_bad_input_is_a_field_by_field_400_and_creates_nothing(sme_client, hub, pieces):
    response = sme_client.post(URL, body(hub, pieces, hub="nowhere", title="",
                                         preferred_start="2026-12-01T09:00:00"), format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    assert {"title", "preferred_start"} <= set(response.json()["errors"])
    response = sme_client.post(URL, body(hub, pieces, hub="nowhere"), format="json")
    assert response.status_code == 400
    assert "hub" in response.json()["errors"]
    assert not ServiceRequest.objects.exists()


def test_only_smes_submit(operator_client, hub, pieces):
    response = operator_client.post(URL, body(hub, pieces), format="json")
    assert response.status_code == 403
    assert response["Content-Type"].startswith(PROBLEM)


def test_idempotent_submit(sme_client, hub, pieces):
    first = sme_client.post(URL, body(hub, pieces), format="json", HTTP_IDEMPOTENCY_KEY="sr-1")
    again = sme_client.post(URL, body(hub, pieces), format="json", HTTP_IDEMPOTENCY_KEY="sr-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert ServiceRequest.objects.count() == 1
    other = sme_client.post(URL, body(hub, pieces, title="Other"), format="json",
                            HTTP_IDEMPOTENCY_KEY="sr-1")
    assert other.status_code == 409


def test_the_whole_round_trip(sme_client, operator_client, hub, pieces):
    made = sme_client.post(URL, body(hub, pieces), format="json").json()
    offered = operator_client.post(f"{URL}{made['id']}/offer/", offer_body(pieces),
                                   format="json", HTTP_IDEMPOTENCY_KEY="offer-1")
    assert offered.status_code == 201, offered.content
    offer = offered.json()["offer"]
    assert offered.json()["status"] == "quoted"
    assert offer["total"] == "1730.00"
    assert [line["kind"] for line in offer["lines"]] == ["usage", "assisted", "setup", "usage",
                                                         "item"]
    assert offer["lines"][0]["start"].endswith("+08:00")
    assert offer["valid_until"].endswith("+08:00")
    accepted = sme_client.post(f"{URL}{made['id']}/accept/", {}, format="json")
    assert accepted.status_code == 201, accepted.content
    data = accepted.json()
    assert data["service_request"]["status"] == "accepted"
    assert [b["equipment"] for b in data["bookings"]] == [p.pk for p in pieces]
    assert sorted(data["service_request"]["bookings"]) == sorted(b["id"] for b in data["bookings"])
    assert Booking.objects.count() == 2


def test_accept_refused_is_a_409_naming_the_piece(sme_client, operator_client, hub, pieces,
                                                  other_sme):
    made = sme_client.post(URL, body(hub, pieces), format="json").json()
    operator_client.post(f"{URL}{made['id']}/offer/", offer_body(pieces), format="json")
    _e, start, end = offer_periods(pieces)[1]
    make_booking(pieces[1], other_sme, start, end)
    response = sme_client.post(f"{URL}{made['id']}/accept/", {"if_voucher_short": "refuse"},
                               format="json")
    assert response.status_code == 409
    problem = response.json()
    assert response["Content-Type"].startswith(PROBLEM)
    assert problem["code"] == "offer_not_bookable"
    assert problem["equipment"] == pieces[1].pk
    assert problem["refusal"]["code"] == "slot_taken"
    assert sme_client.get(f"{URL}{made['id']}/").json()["status"] == "quoted"
    assert Booking.objects.filter(organization__slug="precision").count() == 0


def test_roles_and_tenancy(sme_client, operator_client, hub, pieces, other_sme,
                           other_operator):
    made = sme_client.post(URL, body(hub, pieces), format="json").json()
    path = f"{URL}{made['id']}/"
    stranger_sme, stranger_op = key_client(other_sme), key_client(other_operator)
    university = key_client(make_org("tsinghua", "university"))
    for client in (stranger_sme, stranger_op, university):
        assert client.get(path).status_code == 404
        assert client.post(f"{path}withdraw/", {}, format="json").status_code == 404
        assert client.get(URL).json()["results"] == []
    assert stranger_op.post(f"{path}offer/", offer_body(pieces),
                            format="json").status_code == 404
    assert sme_client.post(f"{path}offer/", offer_body(pieces), format="json").status_code == 403
    assert sme_client.post(f"{path}refuse/", {"reason": "x"},
                           format="json").status_code == 403
    assert operator_client.post(f"{path}withdraw/", {}, format="json").status_code == 403
    assert operator_client.get(URL).json()["results"][0]["id"] == made["id"]
    assert sme_client.get(f"{URL}999999999/").status_code == 404


def test_refuse_decline_withdraw(sme_client, operator_client, hub, pieces):
    one = sme_client.post(URL, body(hub, pieces), format="json").json()["id"]
    two = sme_client.post(URL, body(hub, pieces), format="json").json()["id"]
    three = sme_client.post(URL, body(hub, pieces), format="json").json()["id"]
    no_reason = operator_client.post(f"{URL}{one}/refuse/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    refused = operator_client.post(f"{URL}{one}/refuse/", {"reason": "Machine down."},
                                   format="json")
    assert (refused.status_code, refused.json()["status"]) == (200, "refused")
    assert refused.json()["reason"] == "Machine down."
    early = sme_client.post(f"{URL}{two}/decline/", {}, format="json")
    assert early.status_code == 409 and early.json()["code"] == "offer_not_open"
    operator_client.post(f"{URL}{two}/offer/", offer_body(pieces), format="json")
    declined = sme_client.post(f"{URL}{two}/decline/", {"reason": "Too dear"}, format="json")
    assert declined.json()["status"] == "declined"
    assert declined.json()["offer"]["status"] == "declined"
    withdrawn = sme_client.post(f"{URL}{three}/withdraw/", {}, format="json")
    assert withdrawn.json()["status"] == "withdrawn"
    listed = sme_client.get(URL, {"status": ["declined", "withdrawn"]}).json()["results"]
    assert sorted(r["id"] for r in listed) == sorted([two, three])


def test_offer_input_errors(sme_client, operator_client, hub, pieces):
    made = sme_client.post(URL, body(hub, pieces), format="json").json()
    gold = [{"code": "gold", "quantity": "1"}]
    response = operator_client.post(f"{URL}{made['id']}/offer/",
                                    offer_body(pieces[:1], items=gold), format="json")
    assert response.status_code == 400
    assert "periods" in response.json()["errors"]
    response = operator_client.post(f"{URL}{made['id']}/offer/",
                                    offer_body(pieces, valid_until="2026-01-01T00:00:00"),
                                    format="json")
    assert response.status_code == 400 and "valid_until" in response.json()["errors"]
    assert sme_client.get(f"{URL}{made['id']}/").json()["status"] == "submitted"


def test_every_route_is_in_the_schema():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    base = "/api/v1/service-requests/"
    assert {"get", "post"} <= set(paths[base])
    assert "get" in paths[base + "{id}/"]
    for name in ("offer", "accept", "decline", "withdraw", "refuse"):
        assert "post" in paths[f"{base}{{id}}/{name}/"], name
    for name in ("offer", "accept"):
        params = paths[f"{base}{{id}}/{name}/"]["post"].get("parameters", [])
        assert any(p["name"] == "Idempotency-Key" for p in params), name
        assert "201" in paths[f"{base}{{id}}/{name}/"]["post"]["responses"]
    assert "multipart/form-data" in paths[base]["post"]["requestBody"]["content"]
