"""Statement pages: the SME's (list, not yet stated, detail, downloads) and the operator's
console (list, issue after a preview, detail, downloads), in both languages; another
organisation's statement is a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from billing.models import Statement
from billing.statements import services
from organizations.models import Membership
from tests.billing.conftest import NOVEMBER, S, at, priced
from tests.factories import MembershipFactory, UserFactory

NOW = at(1, 9, month=12)


def logged_in(organization, role=Membership.Role.ADMIN) -> Client:
    user = UserFactory()
    MembershipFactory(organization=organization, role=role, user=user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def issued(equipment, sme, grant):
    priced(equipment, sme, at(3), grant=grant, voucher="400.00")
    [statement] = services.issue_statements(operator=equipment.hub.operator, month=NOVEMBER,
                                            now=NOW)
    return statement


@pytest.fixture(autouse=True)
def _december():
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        yield


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_sme_sees_its_statements_and_what_is_not_yet_stated(issued, equipment, sme,
                                                                 language):
    priced(equipment, sme, at(1, 8, month=12), status=S.CONFIRMED)  # December, pending
    client = logged_in(sme)
    client.cookies["django_language"] = language
    page = client.get(reverse("billing:statements"))
    assert page.status_code == 200
    html = page.content.decode()
    assert issued.code in html and "¥800.00" in html and "¥400.00" in html
    assert page.context["pending"][0][1].pending_total == 800
    detail = client.get(reverse("billing:statement", args=[issued.pk]))
    assert detail.status_code == 200
    assert 'id="statement-payable">¥400.00' in detail.content.decode()
    if language == "zh-hans":
        assert "对账单" in html
    pdf = client.get(reverse("billing:statement-pdf", args=[issued.pk]), {"lang": "zh-hans"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "zh-hans" in pdf["Content-Disposition"]
    data = client.get(reverse("billing:statement-csv", args=[issued.pk]))
    assert data.status_code == 200 and data.content.decode().startswith("\ufeff")


def test_another_sme_gets_404(issued, other_sme):
    client = logged_in(other_sme)
    for name in ("billing:statement", "billing:statement-pdf", "billing:statement-csv"):
        assert client.get(reverse(name, args=[issued.pk])).status_code == 404
    assert issued.code not in client.get(reverse("billing:statements")).content.decode()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_operator_previews_then_issues_a_month(equipment, sme, other_sme, language):
    operator = equipment.hub.operator
    priced(equipment, sme, at(3))
    priced(equipment, other_sme, at(4))
    client = logged_in(operator, Membership.Role.OPERATOR)
    client.cookies["django_language"] = language
    preview = client.get(reverse("billing-console:statement-issue"), {"month": "2026-11"})
    assert preview.status_code == 200
    assert len(preview.context["preview"]) == 2
    assert Statement.objects.count() == 0  # a preview issues nothing
    done = client.post(reverse("billing-console:statement-issue"), {"month": "2026-11"})
    assert done.status_code == 302
    assert Statement.objects.filter(operator=operator).count() == 2
    listing = client.get(done["Location"])
    assert listing.status_code == 200
    assert "ST-AUTOWORKS-2026-00002" in listing.content.decode()
    statement = Statement.objects.get(number=1)
    assert client.get(reverse("billing-console:statement", args=[statement.pk])).status_code \
        == 200
    pdf = client.get(reverse("billing-console:statement-pdf", args=[statement.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.post(reverse("billing-console:statement-issue"),
                       {"month": "2026-11"}).status_code == 302
    assert Statement.objects.count() == 2  # again: nothing new


def test_console_statements_of_another_operator_are_404(issued, other_operator, sme):
    client = logged_in(other_operator, Membership.Role.OPERATOR)
    assert client.get(reverse("billing-console:statement", args=[issued.pk])).status_code == 404
    assert issued.code not in client.get(reverse("billing-console:statements")).content.decode()
    assert logged_in(sme).get(reverse("billing-console:statements")).status_code == 403


def test_a_bad_month_issues_nothing(equipment, sme):
    priced(equipment, sme, at(3))
    client = logged_in(equipment.hub.operator, Membership.Role.OPERATOR)
    r = client.post(reverse("billing-console:statement-issue"), {"month": "2027-01"})
    assert r.status_code == 302
    assert client.post(reverse("billing-console:statement-issue"),
                       {"month": "junk"}).status_code == 302
    assert Statement.objects.count() == 0
