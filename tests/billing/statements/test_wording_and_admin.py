"""What the statement pages and the PDF say is charged (the builder's rule, in both
languages), who issues them (the hub operator, 运营方, not a machine operator), and the
admin's statement page: months as months, trimmed quantities, bookings in their hub's
time, translated labels, a month filter."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from billing.statements import documents, services
from organizations.models import Membership
from pricing.models import QuoteLine, Unit
from tests.billing.conftest import NOVEMBER, at, priced
from tests.factories import MembershipFactory, UserFactory
from tests.pdfutil import pdftotext, require_cjk_font

from .conftest import add_line

pytestmark = pytest.mark.django_db
NOW = at(1, 9, month=12)
RULE_EN = ("Statements charge the month's bookings that hold their slot (confirmed, checked "
           "in or completed)")
RULE_ZH = "对账单计收当月占用时段的预约（已确认、已签到或已完成）"
WRONG = "completed trials and no-shows in full"


@pytest.fixture(autouse=True)
def _december():
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        yield


@pytest.fixture
def issued(equipment, sme, grant):
    """November: a completed 2.5-hour booking at 09:00 Shanghai (01:00 UTC) with 3 pieces."""
    booking = priced(equipment, sme, at(3), hours=2.5, grant=grant, voucher="400.00")
    assert booking.quote.lines.get().quantity == Decimal("2.5000")
    add_line(booking, kind=QuoteLine.Kind.ITEM, amount="36.00", quantity="3", unit=Unit.PIECE)
    [statement] = services.issue_statements(operator=equipment.hub.operator, month=NOVEMBER,
                                            now=NOW)
    return statement


def seat(organization, role=Membership.Role.ADMIN) -> Client:
    client = Client()
    client.force_login(MembershipFactory(organization=organization, role=role,
                                         user=UserFactory()).user)
    return client


def texts(client, *urls, language):
    client.cookies["django_language"] = language
    for url in urls:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200, url
        yield url, response.content.decode()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_statement_page_says_what_is_charged(issued, sme, operator, language):
    rule = RULE_EN if language == "en" else RULE_ZH
    portal = texts(seat(sme), reverse("billing:statements"),
                   reverse("billing:statement", args=[issued.pk]), language=language)
    console = texts(seat(operator, Membership.Role.OPERATOR),
                    reverse("billing-console:statement-issue") + "?month=2026-11",
                    reverse("billing-console:statement", args=[issued.pk]),
                    language=language)
    for url, html in [*portal, *console]:
        assert rule in html.replace("&#x27;", "'"), url
        assert WRONG not in html, url


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_issuer_is_the_hub_operator(issued, sme, language):
    pages = dict(texts(seat(sme), reverse("billing:statements"),
                       reverse("billing:statement", args=[issued.pk]), language=language))
    for url, html in pages.items():
        if language == "en":
            assert "Hub operator" in html, url
            assert ">Operator<" not in html, url
        else:
            assert "运营方" in html and "操作员" not in html, url


def test_the_pdf_says_it_in_both_languages(issued):
    english = " ".join(pdftotext(documents.statement_pdf(issued, "en")).split())
    assert "Hub operator" in english and "Operator " not in english.replace("Hub operator", "")
    assert "no-shows in full to the firm" in english and WRONG not in english
    assert "issued separately by the hub operator" in english
    require_cjk_font()
    chinese = re.sub(r"\s+", "", pdftotext(documents.statement_pdf(issued, "zh-hans")))
    assert "运营方" in chinese and "操作员" not in chinese
    assert RULE_ZH in chinese


# --- the admin's statement page ---------------------------------------------------------

@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_statement_page(staff_client, issued):
    page = staff_client.get(reverse("admin:billing_statement_change", args=[issued.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Nov 2026" in html and "Nov. 1, 2026" not in html and "1 Nov 2026" not in html
    assert "2.5 hour" in html and "2.5000" not in html and "3 piece" in html
    # Booked 09:00–11:30 in Shanghai (01:00 UTC): the hub's time, not the server's.
    assert "09:00" in html and "11:30" in html and "01:00" not in html
    assert "Statement number" in html and "Documents" in html
    assert ">Code:<" not in html and "CODE" not in html
    assert "PDF (English)" in html and "Equipment time: DMU 50" in html


def test_the_admin_statement_page_in_chinese(staff_client, issued):
    html = staff_client.get(reverse("admin:billing_statement_change", args=[issued.pk]),
                            HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "2026年11月" in html
    assert "对账单编号" in html and "文档" in html and "PDF（中文）" in html
    assert "Documents" not in html and "Statement number" not in html
    assert "运营方" in html and "操作员" not in html


def test_the_admin_list_filters_by_month(staff_client, issued):
    changelist = reverse("admin:billing_statement_changelist")
    html = staff_client.get(changelist).content.decode()
    assert "Past 7 days" not in html and "?month=2026-11" in html and "Nov 2026" in html
    assert staff_client.get(changelist, {"month": "2026-11"}).context["cl"].result_count == 1
    assert staff_client.get(changelist, {"month": "2026-10"}).context["cl"].result_count == 0
    assert staff_client.get(changelist, {"month": "junk"}).status_code == 200
