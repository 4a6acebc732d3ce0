"""The operators' claim pages (console) in both languages, and the staff's decisions in
the admin console, through the services."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from billing.claims import services
from billing.models import SettlementClaim
from organizations.models import Membership, Organization
from tests.billing.conftest import NOVEMBER
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures.world import make_org

pytestmark = pytest.mark.django_db
C = SettlementClaim.Status


def url(name, *args):
    return reverse(f"billing-console:{name}", args=args)


@pytest.fixture
def claim(operator, programme, completed):
    made, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                   month=NOVEMBER)
    return made


def logged_in(organization, email):
    client = Client()
    client.force_login(MembershipFactory(organization=organization, role=Membership.Role.ADMIN,
                                         user=UserFactory(email=email)).user)
    return client


def test_the_operator_drafts_submits_and_downloads(console, programme, completed):
    page = console.get(url("claims"))
    assert page.status_code == 200
    assert "BJ-CXQ-2026" in page.content.decode()
    drafted = console.post(url("claim-draft"), {"programme": programme.pk, "month": "2026-11"})
    claim = SettlementClaim.objects.get()
    assert drafted.status_code == 302 and drafted["Location"] == url("claim", claim.pk)
    detail = console.get(url("claim", claim.pk)).content.decode()
    assert "DMU 50" in detail and "¥400.00" in detail and "BJKW-2026-0042" in detail
    download = console.get(url("claim-evidence", claim.pk))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert f"bookings/{completed.pk}/usage.json" in names
    submitted = console.post(url("claim-submit", claim.pk))
    assert submitted.status_code == 302
    claim.refresh_from_db()
    assert claim.status == C.SUBMITTED
    again = console.post(url("claim-submit", claim.pk), follow=True)
    assert any("submitted" in str(m) for m in get_messages(again.wsgi_request))


def test_a_refused_draft_is_shown_at_the_form(console, programme, grant):
    empty = console.post(url("claim-draft"), {"programme": programme.pk, "month": "2026-11"})
    assert empty.status_code == 409
    assert "Nothing to claim" in empty.content.decode()
    bad = console.post(url("claim-draft"), {"programme": programme.pk, "month": "November"})
    assert bad.status_code == 400
    assert not SettlementClaim.objects.exists()


def test_a_rejected_claim_is_reopened(console, claim, operator, staff_user):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    services.reject_claim(claim_id=claim.pk, reason="Invoice missing.", by_user=staff_user)
    page = console.get(url("claim", claim.pk)).content.decode()
    assert "Invoice missing." in page and url("claim-reopen", claim.pk) in page
    assert console.post(url("claim-reopen", claim.pk)).status_code == 302
    claim.refresh_from_db()
    assert claim.status == C.DRAFT


def test_other_seats(claim, other_operator, sme):
    other = logged_in(other_operator, "admin@phonetech.test")
    for name in ("claim", "claim-evidence"):
        assert other.get(url(name, claim.pk)).status_code == 404
    assert other.post(url("claim-submit", claim.pk)).status_code == 404
    assert claim.pk not in [c.pk for c in other.get(url("claims")).context["claims"]]
    firm = logged_in(sme, "boss@precision.test")
    assert firm.get(url("claims")).status_code == 403
    university = logged_in(make_org("tsinghua", Organization.Kind.UNIVERSITY), "d@t.test")
    assert university.get(url("voucher-report")).status_code == 403
    anonymous = Client().get(url("claims"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    claim.refresh_from_db()
    assert claim.status == C.DRAFT


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_pages_in_both_languages(console, claim, language):
    console.cookies["django_language"] = language
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    for page in (url("claims"), url("claim", claim.pk), url("voucher-report")
                 + "?start=2026-11-01&end=2026-11-30"):
        response = console.get(page, **headers)
        assert response.status_code == 200, page
        text = response.content.decode()
        if language == "zh-hans":
            assert 'lang="zh-hans"' in text
            assert "结算申请" in text or "创新券" in text, page
        else:
            assert "Settlement claim" in text or "Voucher use" in text, page


def test_the_voucher_report_page_and_csv(console, claim):
    page = console.get(url("voucher-report"), {"start": "2026-11-01", "end": "2026-11-30"})
    text = page.content.decode()
    assert page.status_code == 200 and "¥400.00" in text and "¥10,000.00" in text
    csv = console.get(url("voucher-report"), {"start": "2026-11-01", "end": "2026-11-30",
                                              "export": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert "programme,BJ-CXQ-2026" in csv.content.decode()
    bad = console.get(url("voucher-report"), {"start": "2026-12-01", "end": "2026-11-01"})
    assert bad.status_code == 400


# --- the admin console --------------------------------------------------------------------

def changelist():
    return reverse("admin:billing_settlementclaim_changelist")


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_staff_approve_and_record_payment(staff_client, claim, operator):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    assert staff_client.get(changelist()).status_code == 200
    assert staff_client.get(reverse("admin:billing_settlementclaim_change",
                                    args=[claim.pk])).status_code == 200
    staff_client.post(changelist(), {"action": "approve", "_selected_action": [claim.pk]})
    claim.refresh_from_db()
    assert claim.status == C.APPROVED
    form = staff_client.post(changelist(), {"action": "mark_paid",
                                            "_selected_action": [claim.pk]})
    assert form.status_code == 200 and b"payment_reference" in form.content
    missing = staff_client.post(changelist(), {"action": "mark_paid", "apply": "1",
                                               "_selected_action": [claim.pk],
                                               "payment_reference": ""})
    assert missing.status_code == 200
    claim.refresh_from_db()
    assert claim.status == C.APPROVED
    done = staff_client.post(changelist(), {"action": "mark_paid", "apply": "1",
                                            "_selected_action": [claim.pk],
                                            "payment_reference": "BJ-PAY-118"})
    assert done.status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.payment_reference) == (C.PAID, "BJ-PAY-118")


def test_staff_reject_with_a_reason_and_illegal_moves_are_refused(staff_client, claim,
                                                                 operator):
    # A draft cannot be approved: the service refuses, the admin says so.
    refused = staff_client.post(changelist(), {"action": "approve",
                                               "_selected_action": [claim.pk]}, follow=True)
    assert any("cannot be" in str(m) for m in get_messages(refused.wsgi_request))
    claim.refresh_from_db()
    assert claim.status == C.DRAFT
    services.submit_claim(claim_id=claim.pk, provider=operator)
    no_reason = staff_client.post(changelist(), {"action": "reject", "apply": "1",
                                                 "_selected_action": [claim.pk],
                                                 "reason": " "})
    assert no_reason.status_code == 200 and b"Say why" in no_reason.content
    staff_client.post(changelist(), {"action": "reject", "apply": "1",
                                     "_selected_action": [claim.pk],
                                     "reason": "Invoice missing."})
    claim.refresh_from_db()
    assert (claim.status, claim.reason) == (C.REJECTED, "Invoice missing.")


def test_the_admin_adds_and_deletes_nothing(staff_client, claim):
    assert staff_client.get(reverse("admin:billing_settlementclaim_add")).status_code == 403
    assert staff_client.get(reverse("admin:billing_settlementclaim_delete",
                                    args=[claim.pk])).status_code == 403
