"""The claims' admin page: the evidence ZIP for staff, the programme office's decisions in
the claim's history (with the reason), months shown and filtered as months, the claim
statuses' own Chinese words; and the API's month as the schema says (YYYY-MM)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import translation

from billing.claims import services
from billing.models import SettlementClaim
from tests.billing.conftest import NOVEMBER

pytestmark = pytest.mark.django_db
C = SettlementClaim.Status


@pytest.fixture
def claim(operator, programme, completed):
    made, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                   month=NOVEMBER)
    return made


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def changelist():
    return reverse("admin:billing_settlementclaim_changelist")


def history(claim) -> list[str]:
    return [entry.get_change_message() for entry in LogEntry.objects.filter(
        object_id=str(claim.pk), action_flag=CHANGE).order_by("action_time", "pk")]


def test_the_claim_page_links_the_evidence_zip(staff_client, claim, completed):
    page = staff_client.get(reverse("admin:billing_settlementclaim_change", args=[claim.pk]))
    evidence_url = reverse("admin:billing_settlementclaim_evidence", args=[claim.pk])
    assert page.status_code == 200 and f'href="{evidence_url}"' in page.content.decode()
    download = staff_client.get(evidence_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert "summary.pdf" in names and f"bookings/{completed.pk}/booking.json" in names
    assert staff_client.get(reverse("admin:billing_settlementclaim_evidence",
                                    args=[999999])).status_code == 404


def test_the_evidence_is_for_staff_only(console, claim):
    # An operator's session is no staff session: the admin sends it to its login page.
    response = console.get(reverse("admin:billing_settlementclaim_evidence", args=[claim.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_decisions_are_in_the_claims_history(staff_client, claim, operator):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    staff_client.post(changelist(), {"action": "reject", "apply": "1",
                                     "_selected_action": [claim.pk],
                                     "reason": "The invoice is missing."})
    services.reopen_claim(claim_id=claim.pk, provider=operator)
    services.submit_claim(claim_id=claim.pk, provider=operator)
    staff_client.post(changelist(), {"action": "approve", "_selected_action": [claim.pk]})
    staff_client.post(changelist(), {"action": "mark_paid", "apply": "1",
                                     "_selected_action": [claim.pk],
                                     "payment_reference": "BJ-PAY-118"})
    claim.refresh_from_db()
    assert claim.status == C.PAID
    messages = history(claim)
    assert len(messages) == 3
    assert "The invoice is missing." in messages[0]
    assert "approval" in messages[1]
    assert "BJ-PAY-118" in messages[2]
    page = staff_client.get(reverse("admin:billing_settlementclaim_history", args=[claim.pk]))
    assert "The invoice is missing." in page.content.decode()


def test_a_refused_decision_is_not_in_the_history(staff_client, claim):
    staff_client.post(changelist(), {"action": "approve", "_selected_action": [claim.pk]})
    assert history(claim) == []


def test_months_are_months_in_the_list_and_its_filter(staff_client, claim):
    page = staff_client.get(changelist()).content.decode()
    assert "Nov 2026" in page and "Today" not in page and "Past 7 days" not in page
    assert "?month=2026-11" in page
    assert staff_client.get(changelist(), {"month": "2026-11"}).context["cl"].result_count == 1
    assert staff_client.get(changelist(), {"month": "2026-10"}).context["cl"].result_count == 0
    chinese = staff_client.get(changelist(), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "2026年11月" in chinese.content.decode()


def test_a_rejected_claim_is_bohui_not_jujue():
    with translation.override("zh-hans"):
        labels = {value: str(label) for value, label in C.choices}
    assert labels[C.REJECTED] == "已驳回"
    assert (labels[C.DRAFT], labels[C.SUBMITTED], labels[C.APPROVED], labels[C.PAID]) == (
        "草稿", "已提交", "已批准", "已支付")


def test_the_api_month_is_the_schemas(operator_client, claim, client):
    [listed] = operator_client.get("/api/v1/claims/").json()["results"]
    assert listed["month"] == "2026-11"
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for name in ("Claim", "ClaimDetail", "Statement", "StatementDetail"):
        month = schema["components"]["schemas"][name]["properties"]["month"]
        assert month["type"] == "string" and "format" not in month, name
        assert month["pattern"] == r"^\d{4}-(0[1-9]|1[0-2])$", name
    for path in ("/api/v1/claims/", "/api/v1/statements/"):
        [month] = [p for p in schema["paths"][path]["get"]["parameters"]
                   if p["name"] == "month"]
        assert "format" not in month["schema"] and "pattern" in month["schema"], path
    assert operator_client.get("/api/v1/claims/?month=2026-13").status_code == 400


def test_a_month_of_year_zero_is_a_400_not_a_500(operator_client, claim):
    """"0000-01" matches the YYYY-MM pattern but is no date (core.forms.parse_month)."""
    assert operator_client.get("/api/v1/claims/?month=0000-01").status_code == 400
    assert operator_client.post("/api/v1/claims/", {"programme": claim.programme_id,
                                                    "month": "0000-01"},
                                format="json").status_code == 400
    assert operator_client.get("/api/v1/statements/?month=0000-01").status_code == 400
    assert operator_client.post("/api/v1/statements/issue/", {"month": "0000-01"},
                                format="json").status_code == 400
