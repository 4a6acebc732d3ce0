"""API v1: /quotes/ (estimates), /vouchers/, and bookings made with a voucher or estimate."""

from __future__ import annotations

from decimal import Decimal

from bookings.models import Booking
from pricing.models import Quote
from tests.factories import VoucherGrantFactory
from tests.fixtures.world import booking_body, key_client, local, make_org

QUOTES = "/api/v1/quotes/"
VOUCHERS = "/api/v1/vouchers/"
BOOKINGS = "/api/v1/bookings/"


def quote_body(equipment, **extra):
    return {"equipment": equipment.pk, "start": local(2, 9).isoformat(),
            "end": local(2, 11).isoformat(), **extra}


def test_create_estimate_contract(sme_client, equipment, rate, item, grant):
    r = sme_client.post(QUOTES, quote_body(equipment, assisted=True, voucher_grant=grant.pk,
                                           items=[{"code": "ti-blank", "quantity": "2"}]),
                        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert {k: body[k] for k in ("kind", "status", "hub", "equipment", "currency", "total",
                                 "voucher_total", "sme_total", "voucher_grant")} == {
        "kind": "estimate", "status": "open", "hub": "yizhuang", "equipment": equipment.pk,
        "currency": "CNY", "total": "1271.00", "voucher_total": "600.00",
        "sme_total": "671.00", "voucher_grant": grant.pk}
    assert body["start"] == local(2, 9).isoformat() and body["valid_until"].endswith("+08:00")
    assert [(li["kind"], li["amount"], li["voucher_share"], li["sme_share"])
            for li in body["lines"]] == [
        ("usage", "800.00", "400.00", "400.00"), ("assisted", "200.00", "100.00", "100.00"),
        ("setup", "200.00", "100.00", "100.00"), ("item", "71.00", "0.00", "71.00")]
    assert body["lines"][3]["item"] == "ti-blank"
    assert body["lines"][3]["description"] == "Titanium blank"
    assert body["lines"][0]["description"].startswith("DMU 50")


def test_estimate_description_in_chinese(sme_client, equipment, rate):
    r = sme_client.post(QUOTES, quote_body(equipment), format="json",
                        HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 201
    from django.utils import translation

    from pricing.selectors import describe_line

    line = Quote.objects.get().lines.order_by("position").first()
    with translation.override("zh-hans"):
        expected = describe_line(line)
    assert r.json()["lines"][0]["description"] == expected


def test_bad_input_is_400_field_by_field(sme_client, equipment, rate, other_sme, programme):
    theirs = VoucherGrantFactory(programme=programme, organization=other_sme)
    cases = [({"items": [{"code": "nope", "quantity": "1"}]}, "items"),
             ({"voucher_grant": theirs.pk}, "voucher_grant"),
             ({"if_voucher_short": "maybe"}, "if_voucher_short"),
             ({"end": local(2, 8).isoformat()}, "end"),
             ({"start": "2026-12-03T09:00:00"}, "start")]
    for patch, field in cases:
        r = sme_client.post(QUOTES, {**quote_body(equipment), **patch}, format="json")
        assert r.status_code == 400, (patch, r.content)
        assert r["Content-Type"].startswith("application/problem+json")
        assert field in r.json()["errors"], (patch, r.json())
    assert not Quote.objects.exists()


def test_only_smes_ask_for_estimates(operator_client, equipment):
    r = operator_client.post(QUOTES, quote_body(equipment), format="json")
    assert r.status_code == 403


def test_idempotency_key_replays(sme_client, equipment):
    first = sme_client.post(QUOTES, quote_body(equipment), format="json",
                            HTTP_IDEMPOTENCY_KEY="q1")
    again = sme_client.post(QUOTES, quote_body(equipment), format="json",
                            HTTP_IDEMPOTENCY_KEY="q1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and Quote.objects.count() == 1


def test_tenancy(sme_client, operator_client, equipment, other_sme, other_operator, db):
    mine = sme_client.post(QUOTES, quote_body(equipment), format="json").json()["id"]
    assert sme_client.get(f"{QUOTES}{mine}/").status_code == 200
    assert operator_client.get(f"{QUOTES}{mine}/").status_code == 200  # its hub
    assert [q["id"] for q in operator_client.get(QUOTES).json()["results"]] == [mine]
    university = make_org("tsinghua", "university")
    for client in (key_client(other_sme), key_client(other_operator), key_client(university)):
        assert client.get(f"{QUOTES}{mine}/").status_code == 404
        assert client.get(QUOTES).json()["results"] == []
    assert sme_client.get(f"{QUOTES}99999999999999999999/").status_code == 404


def test_vouchers(sme_client, operator_client, grant, other_sme):
    r = sme_client.get(VOUCHERS)
    assert r.status_code == 200
    (row,) = r.json()["results"]
    assert (row["id"], row["amount"], row["used"], row["remaining"], row["revoked"]) == (
        grant.pk, "10000.00", "0.00", "10000.00", False)
    assert row["programme"]["subsidy_share"] == "0.5000"
    assert sme_client.get(f"{VOUCHERS}{grant.pk}/").json()["reference_number"] == (
        grant.reference_number)
    assert operator_client.get(VOUCHERS).json()["results"] == []
    assert operator_client.get(f"{VOUCHERS}{grant.pk}/").status_code == 404
    assert key_client(other_sme).get(f"{VOUCHERS}{grant.pk}/").status_code == 404


def test_booking_with_voucher_and_estimate(sme_client, equipment, rate, grant):
    estimate = sme_client.post(QUOTES, quote_body(equipment), format="json").json()
    r = sme_client.post(BOOKINGS, booking_body(equipment, local(2, 9), local(2, 11),
                                               voucher_grant=grant.pk, quote=estimate["id"]),
                        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["price"] == body["quote"]["total"] == "1000.00"
    assert (body["quote"]["voucher_total"], body["quote"]["sme_total"]) == ("500.00", "500.00")
    assert body["quote"]["voucher_grant"] == grant.pk
    assert sme_client.get(f"{BOOKINGS}{body['id']}/").json()["quote"] == body["quote"]
    assert sme_client.get(f"{QUOTES}{estimate['id']}/").json()["status"] == "accepted"
    grant.refresh_from_db()
    assert grant.used == Decimal("500.00")


def test_booking_refused_when_voucher_short(sme_client, equipment, programme, sme):
    grant = VoucherGrantFactory(programme=programme, organization=sme, amount=Decimal("10"))
    r = sme_client.post(BOOKINGS, booking_body(equipment, local(2, 9), local(2, 11),
                                               voucher_grant=grant.pk,
                                               if_voucher_short="refuse"), format="json")
    assert r.status_code == 409 and r.json()["code"] == "voucher_exhausted"
    assert not Booking.objects.exists()
    r = sme_client.post(BOOKINGS, booking_body(equipment, local(2, 9), local(2, 11),
                                               voucher_grant=10**9), format="json")
    assert r.status_code == 400 and "voucher_grant" in r.json()["errors"]


def test_schema_has_the_routes(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/quotes/", "/api/v1/quotes/{id}/", "/api/v1/vouchers/",
                 "/api/v1/vouchers/{id}/"):
        assert path in schema["paths"], path
    booking_create = schema["components"]["schemas"]["BookingCreateRequest"]["properties"]
    assert {"voucher_grant", "if_voucher_short", "quote"} <= set(booking_create)
