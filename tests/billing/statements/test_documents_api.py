"""Statement documents (PDF text in both languages, CSV) and the API: who sees what,
downloads, issuing (repeat-safe), the billing report read from statement lines."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from billing.models import Statement
from billing.statements import documents, services
from organizations.models import Organization
from pricing.models import QuoteLine, Unit
from tests.billing.conftest import NOVEMBER, OCTOBER, S, at, priced
from tests.fixtures.world import key_client, make_org
from tests.pdfutil import pdftotext, require_cjk_font

from .conftest import add_line, set_status

NOW = at(1, 9, month=12)
URL = "/api/v1/statements/"


@pytest.fixture
def stated(equipment, sme, grant):
    """October stated (a booking with a voucher share and an item), then the booking
    cancelled late: November's statement credits it and charges the fee."""
    operator = equipment.hub.operator
    booking = priced(equipment, sme, at(20, month=10), status=S.CONFIRMED, grant=grant,
                     voucher="400.00")
    add_line(booking, kind=QuoteLine.Kind.ITEM, amount="36.50", quantity="5", unit=Unit.PIECE)
    [october] = services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    set_status(booking, S.CANCELLED)
    add_line(booking, kind=QuoteLine.Kind.LATE_CANCELLATION, amount="400.00")
    priced(equipment, sme, at(3), grant=grant, voucher="100.00")
    [november] = services.issue_statements(operator=operator, month=NOVEMBER, now=NOW)
    return october, november


def test_statement_pdf_has_the_totals_and_notice_in_english(stated):
    _october, november = stated
    # Credits 836.50 (400.00 of it the voucher's), the fee 400.00, November's 800.00
    # (100.00 voucher): total 363.50, voucher -300.00, firm 663.50.
    assert (november.total, november.voucher_total, november.sme_total) == (
        Decimal("363.50"), Decimal("-300.00"), Decimal("663.50"))
    text = pdftotext(documents.statement_pdf(november, "en"))
    assert november.code in text
    assert "not a tax invoice (fapiao)" in text
    assert "Precision Parts" in text and "AutoWorks" in text
    assert "¥363.50" in text and "-¥300.00" in text and "¥663.50" in text
    assert "Credit: Equipment time: DMU 50" in text
    assert "Late-cancellation fee: DMU 50" in text
    assert "Amount payable by the firm" in text


def test_statement_pdf_in_chinese(stated):
    require_cjk_font()
    _october, november = stated
    text = pdftotext(documents.statement_pdf(november, "zh-hans"))
    assert november.code in text
    assert "对账单" in text
    assert "不是税务发票" in text
    assert "¥363.50" in text and "-¥300.00" in text and "¥663.50" in text
    assert "Amount payable" not in text


def test_statement_csv(stated):
    october, _november = stated
    body = documents.statement_csv(october)
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [(r["line_kind"], r["quantity"], r["amount"], r["voucher_share"], r["sme_share"])
            for r in rows] == [("usage", "2", "800.00", "400.00", "400.00"),
                               ("item", "5", "36.50", "0.00", "36.50")]
    assert rows[0]["grant_reference"] and rows[0]["statement"] == october.code


# --- API ------------------------------------------------------------------------------

def test_the_sme_sees_its_statements_with_lines(stated, sme_client, sme):
    october, november = stated
    r = sme_client.get(URL)
    assert r.status_code == 200
    assert [s["code"] for s in r.json()["results"]] == [november.code, october.code]
    r = sme_client.get(URL, {"month": "2026-10"})
    assert [s["id"] for s in r.json()["results"]] == [october.pk]
    detail = sme_client.get(f"{URL}{november.pk}/").json()
    assert detail["total"] == "363.50" and detail["currency"] == "CNY"
    assert [(li["kind"], li["amount"]) for li in detail["lines"]] == [
        ("credit", "-800.00"), ("credit", "-36.50"), ("charge", "400.00"), ("charge", "800.00")]


def test_downloads(stated, sme_client):
    _october, november = stated
    pdf = sme_client.get(f"{URL}{november.pk}/pdf/", {"lang": "en"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf["Content-Disposition"]
    assert "¥363.50" in pdftotext(pdf.content)
    data = sme_client.get(f"{URL}{november.pk}/csv/")
    assert data.status_code == 200 and data["Content-Type"].startswith("text/csv")
    assert data.content.decode("utf-8").startswith("\ufeff")


def test_tenancy(stated, other_sme, operator, other_operator):
    october, _november = stated
    university = make_org("tsinghua", Organization.Kind.UNIVERSITY)
    for org in (other_sme, other_operator, university):
        client = key_client(org)
        assert client.get(URL).json()["results"] == []
        for suffix in ("", "pdf/", "csv/"):
            assert client.get(f"{URL}{october.pk}/{suffix}").status_code == 404
    assert key_client(operator).get(f"{URL}{october.pk}/").status_code == 200
    assert key_client(operator).get(URL, {"organization": "precision"}).json()["count"] == 2
    assert key_client(other_sme).get(f"{URL}99999999999999999999/").status_code == 404


def test_operator_issues_a_month_repeat_safe(equipment, sme, operator_client):
    priced(equipment, sme, at(3))
    headers = {"HTTP_IDEMPOTENCY_KEY": "nov-1"}
    r = operator_client.post(f"{URL}issue/", {"month": "2026-11"}, format="json", **headers)
    assert r.status_code == 201, r.content
    [body] = r.json()
    assert body["code"] == "ST-AUTOWORKS-2026-00001" and body["month"] == "2026-11"
    again = operator_client.post(f"{URL}issue/", {"month": "2026-11"}, format="json", **headers)
    assert again.status_code == 201 and again.json() == r.json()
    assert again["Idempotent-Replayed"] == "true"
    fresh = operator_client.post(f"{URL}issue/", {"month": "2026-11"}, format="json")
    assert fresh.status_code == 201 and fresh.json() == []
    assert Statement.objects.count() == 1


@pytest.mark.parametrize("month", ["2026-13", "11-2026", "", "0001-01"])
def test_issue_rejects_bad_months(operator_client, month, db):
    r = operator_client.post(f"{URL}issue/", {"month": month}, format="json")
    assert r.status_code == 400
    assert r["Content-Type"].startswith("application/problem+json")
    assert "month" in r.json()["errors"]


def test_only_operators_issue(sme_client, db):
    r = sme_client.post(f"{URL}issue/", {"month": "2026-11"}, format="json")
    assert r.status_code == 403


def test_list_rejects_a_bad_month_filter(sme_client, db):
    assert sme_client.get(URL, {"month": "nope"}).status_code == 400


# --- the billing report -----------------------------------------------------------------

REPORT = "/api/v1/reports/billing/"


def test_billing_report_reads_stated_and_pending_lines(stated, equipment, sme, other_sme,
                                                       operator_client):
    priced(equipment, other_sme, at(9))  # November, not stated yet
    r = operator_client.get(REPORT, {"month": "2026-11"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == "1163.50" and body["pending_total"] == "800.00"
    assert body["voucher_total"] == "-300.00"
    [green, precision] = body["smes"]
    assert green["organization"] == "greenmotor" and green["pending_amount"] == "800.00"
    assert [line["stated"] for line in green["lines"]] == [False]
    assert precision["amount"] == "363.50" and precision["pending_amount"] == "0.00"
    [row] = precision["lines"]
    assert row["late_cancellations"] == 1 and row["cancellation_fees"] == "400.00"
    assert row["usage_amount"] == "-36.50"  # 800.00 new less the credits of 836.50
    csv_body = operator_client.get(REPORT, {"month": "2026-11", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(csv_body.content.decode().removeprefix("\ufeff"))))
    assert [(r["organization"], r["amount"], r["voucher_share"], r["sme_share"], r["stated"])
            for r in rows] == [("greenmotor", "800.00", "0.00", "800.00", "no"),
                               ("precision", "363.50", "-300.00", "663.50", "yes")]


def test_billing_report_for_operators_only(sme_client, db):
    assert sme_client.get(REPORT, {"month": "2026-11"}).status_code == 403
