"""Hostile months and days on the billing doors (console, portal, admin, API): a form
error or a 400, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

MONTHS = ["9999-12", "0001-01", "2026-13", "1e309", "-1"]


@pytest.mark.parametrize("month", MONTHS)
def test_console_claim_draft(console, programme, month):
    r = console.post(reverse("billing-console:claim-draft"),
                     {"programme": programme.pk, "month": month})
    assert r.status_code in (200, 302, 400), r.status_code


@pytest.mark.parametrize("query", [{"start": "9999-12-31", "end": "9999-12-31"},
                                   {"start": "0001-01-01", "end": "0001-01-01"},
                                   {"start": "2026-01-01", "end": "9999-12-31"}])
def test_console_voucher_report(console, query):
    r = console.get(reverse("billing-console:voucher-report"), query)
    assert r.status_code in (200, 400), r.status_code
    r = console.get(reverse("billing-console:voucher-report"), {**query, "export": "csv"})
    assert r.status_code in (200, 400), r.status_code


@pytest.mark.parametrize("month", MONTHS)
def test_console_statements(console, month):
    for name in ("billing-console:statements", "billing-console:statement-issue"):
        assert console.get(reverse(name), {"month": month}).status_code in (200, 400)
    r = console.post(reverse("billing-console:statement-issue"), {"month": month})
    assert r.status_code in (200, 302, 400), r.status_code


@pytest.mark.parametrize("month", MONTHS)
def test_admin_billing_report(staff_user, client, month):
    client.force_login(staff_user)
    r = client.get(reverse("admin:billing_statement_billing"), {"month": month})
    assert r.status_code in (200, 400), r.status_code


@pytest.mark.parametrize("month", MONTHS)
def test_api_months(operator_client, programme, month):
    for path in ("/api/v1/statements/", "/api/v1/claims/", "/api/v1/reports/billing/"):
        r = operator_client.get(path, {"month": month})
        assert r.status_code in (200, 400, 404), (path, r.status_code)
    r = operator_client.post("/api/v1/statements/issue/", {"month": month}, format="json")
    assert r.status_code == 400, r.status_code
    r = operator_client.post("/api/v1/claims/", {"programme": programme.pk, "month": month},
                             format="json")
    assert r.status_code == 400, r.status_code
