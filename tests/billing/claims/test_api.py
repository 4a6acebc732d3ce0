"""The claims API: operators draft (idempotently), read, submit, reopen and download the
evidence of their own claims; SMEs and universities see none; another operator's claim is
404. The voucher-use report: operators their hubs', SMEs their own, universities 403."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest

from billing.claims import services
from billing.models import SettlementClaim
from organizations.models import Organization
from tests.billing.conftest import NOVEMBER
from tests.fixtures.world import key_client, make_org

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture
def university(db):
    return make_org("tsinghua", Organization.Kind.UNIVERSITY, name="Tsinghua Lab")


def body(programme, month="2026-11"):
    return {"programme": programme.pk, "month": month}


def test_an_operator_drafts_a_claim(operator_client, programme, completed):
    response = operator_client.post("/api/v1/claims/", body(programme), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["month"], data["amount"], data["line_count"]) == (
        "draft", "2026-11", "400.00", 1)
    assert data["programme_reference"] == "BJ-CXQ-2026" and data["provider"] == "autoworks"
    assert data["lines"] == [{
        "booking": completed.pk, "organization": "precision",
        "organization_name": "Precision Parts", "hub": "yizhuang", "equipment": "DMU 50",
        "start": "2026-11-10T09:00:00+08:00", "end": "2026-11-10T11:00:00+08:00",
        "voucher_grant": "BJKW-2026-0042", "total": "800.00", "sme_share": "400.00",
        "amount": "400.00"}]
    assert data["evidence_url"] == f"/api/v1/claims/{data['id']}/evidence/"
    again = operator_client.post("/api/v1/claims/", body(programme), format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]


def test_the_draft_honours_idempotency_keys(operator_client, programme, completed):
    first = operator_client.post("/api/v1/claims/", body(programme), format="json",
                                 HTTP_IDEMPOTENCY_KEY="claim-nov")
    again = operator_client.post("/api/v1/claims/", body(programme), format="json",
                                 HTTP_IDEMPOTENCY_KEY="claim-nov")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = operator_client.post("/api/v1/claims/", body(programme, "2026-10"), format="json",
                                 HTTP_IDEMPOTENCY_KEY="claim-nov")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert SettlementClaim.objects.count() == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"month": "2026-11"}, "programme"),
    ({"programme": "x", "month": "2026-11"}, "programme"),
    ({"programme": 1}, "month"),
    ({"programme": 1, "month": "2026-13"}, "month"),
    ({"programme": 1, "month": "26-11"}, "month"),
    ({"programme": 1, "month": "0001-11"}, "month"),
])
def test_bad_input_is_a_field_by_field_400(operator_client, programme, completed, payload,
                                           field):
    response = operator_client.post("/api/v1/claims/", payload, format="json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    assert not SettlementClaim.objects.exists()


def test_refusals_are_problems(operator_client, other_operator, programme, grant):
    empty = operator_client.post("/api/v1/claims/", body(programme), format="json")
    assert empty.status_code == 409 and empty.json()["code"] == "claim_empty"
    unknown = key_client(other_operator).post("/api/v1/claims/", body(programme),
                                              format="json")
    assert unknown.status_code == 400
    assert unknown.json()["errors"]["programme"]
    missing = operator_client.post("/api/v1/claims/", {"programme": 2**62, "month": "2026-11"},
                                   format="json")
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"


def test_smes_and_universities_may_not_claim(sme_client, university, programme, completed):
    for client in (sme_client, key_client(university)):
        response = client.post("/api/v1/claims/", body(programme), format="json")
        assert response.status_code == 403 and response["Content-Type"] == PROBLEM


@pytest.fixture
def claim(operator, programme, completed):
    made, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                   month=NOVEMBER)
    return made


def test_who_sees_which_claim(operator_client, other_operator, sme_client, university, claim):
    listed = operator_client.get("/api/v1/claims/").json()
    assert [c["id"] for c in listed["results"]] == [claim.pk]
    assert listed["results"][0]["line_count"] == 1 and "lines" not in listed["results"][0]
    for client in (key_client(other_operator), sme_client, key_client(university)):
        assert client.get("/api/v1/claims/").json()["results"] == []
        for url in (f"/api/v1/claims/{claim.pk}/", f"/api/v1/claims/{claim.pk}/evidence/"):
            response = client.get(url)
            assert response.status_code == 404, url
        for action in ("submit", "reopen"):
            assert client.post(f"/api/v1/claims/{claim.pk}/{action}/").status_code == 404
    claim.refresh_from_db()
    assert claim.status == "draft"
    assert operator_client.get("/api/v1/claims/999999999999/").status_code == 404
    assert operator_client.get("/api/v1/claims/99999999999999999999/").status_code == 404


def test_the_list_filters(operator_client, claim):
    assert len(operator_client.get("/api/v1/claims/?status=draft").json()["results"]) == 1
    assert operator_client.get("/api/v1/claims/?status=paid").json()["results"] == []
    assert len(operator_client.get("/api/v1/claims/?month=2026-11").json()["results"]) == 1
    assert operator_client.get("/api/v1/claims/?month=2026-10").json()["results"] == []


def test_submit_and_reopen(operator_client, claim, staff_user):
    submitted = operator_client.post(f"/api/v1/claims/{claim.pk}/submit/")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    again = operator_client.post(f"/api/v1/claims/{claim.pk}/submit/")
    assert again.status_code == 409 and again.json()["code"] == "claim_illegal_transition"
    assert again.json()["current_status"] == "submitted"
    refused = operator_client.post(f"/api/v1/claims/{claim.pk}/reopen/")
    assert refused.status_code == 409
    services.reject_claim(claim_id=claim.pk, reason="Missing invoice.", by_user=staff_user)
    reopened = operator_client.post(f"/api/v1/claims/{claim.pk}/reopen/")
    assert reopened.status_code == 200
    assert (reopened.json()["status"], reopened.json()["reason"]) == ("draft",
                                                                      "Missing invoice.")


def test_the_evidence_download(operator_client, claim, completed):
    response = operator_client.get(f"/api/v1/claims/{claim.pk}/evidence/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response["Content-Disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert f"bookings/{completed.pk}/booking.json" in bundle.namelist()
    assert "summary.pdf" in bundle.namelist()


# --- the voucher-use report --------------------------------------------------------------

PERIOD = {"start": "2026-11-01T00:00:00+08:00", "end": "2026-12-01T00:00:00+08:00"}


def test_the_operator_sees_its_hubs_use(operator_client, claim):
    response = operator_client.get("/api/v1/reports/vouchers/", PERIOD)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["currency"] == "CNY"
    [programme] = data["programmes"]
    assert (programme["programme"], programme["used"], programme["bookings"],
            programme["claimed"], programme["granted"]) == ("BJ-CXQ-2026", "400.00", 1,
                                                            "0.00", "10000.00")
    assert [h["key"] for h in data["hubs"]] == ["yizhuang"]
    assert data["hubs"][0]["granted"] is None
    assert [s["key"] for s in data["smes"]] == ["precision"]


def test_the_sme_sees_its_own_and_others_nothing(sme_client, other_sme, university, claim,
                                                 other_operator):
    mine = sme_client.get("/api/v1/reports/vouchers/", PERIOD).json()
    assert [p["used"] for p in mine["programmes"]] == ["400.00"]
    assert key_client(other_sme).get("/api/v1/reports/vouchers/",
                                     PERIOD).json()["programmes"] == []
    assert key_client(other_operator).get("/api/v1/reports/vouchers/",
                                          PERIOD).json()["programmes"] == []
    refused = key_client(university).get("/api/v1/reports/vouchers/", PERIOD)
    assert refused.status_code == 403 and refused["Content-Type"] == PROBLEM


def test_the_report_as_csv_and_its_bad_input(operator_client, claim):
    response = operator_client.get("/api/v1/reports/vouchers/", {**PERIOD, "format": "csv"})
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff") and "BJ-CXQ-2026" in text
    assert "programme,BJ-CXQ-2026" in text
    bad = operator_client.get("/api/v1/reports/vouchers/", {"start": "2026-11-01"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) >= {"end"}
    backwards = operator_client.get("/api/v1/reports/vouchers/",
                                    {"start": PERIOD["end"], "end": PERIOD["start"]})
    assert backwards.status_code == 400
    assert Decimal("400.00") == claim.amount
