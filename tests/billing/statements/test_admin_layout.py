"""The admin's statement and claim pages fit a laptop screen (1280 px) in both languages:
a statement's lines once made the page 1323 px wide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from billing.claims import services as claims
from billing.statements import services
from pricing.models import QuoteLine, Unit
from tests.billing.conftest import NOVEMBER, at, priced
from tests.factories import UserFactory
from tests.fixtures.browser import CHROMIUM

from .conftest import add_line

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(equipment, sme, grant, hub):
    """November's statement with a long line list (usage, set-up, items, a fee) and a
    claim of the same bookings."""
    grant.programme.providers.set([hub])
    for day in (3, 4, 5):
        booking = priced(equipment, sme, at(day), hours=3, grant=grant, voucher="600.00")
        add_line(booking, kind=QuoteLine.Kind.SETUP, amount="150.00", voucher="75.00")
        add_line(booking, kind=QuoteLine.Kind.ITEM, amount="1234.56", quantity="12.5",
                 unit=Unit.KG)
    [statement] = services.issue_statements(operator=equipment.hub.operator, month=NOVEMBER,
                                            now=at(1, 9, month=12) + timedelta(hours=1))
    claim, _ = claims.draft_claim(provider=equipment.hub.operator,
                                  programme_id=grant.programme_id, month=NOVEMBER)
    return statement, claim


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_admin_pages_fit_1280_pixels(page, live_server, world, language):
    if not page.context.browser:
        pytest.skip(f"{CHROMIUM} is not available")
    statement, claim = world
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page.context.add_cookies([
        {"name": "sessionid", "value": client.cookies["sessionid"].value,
         "url": live_server.url},
        {"name": "django_language", "value": language, "url": live_server.url}])
    for path in (f"/admin/billing/statement/{statement.pk}/change/",
                 f"/admin/billing/settlementclaim/{claim.pk}/change/",
                 "/admin/billing/statement/", "/admin/billing/settlementclaim/"):
        page.goto(path)
        assert page.locator("#content").count() == 1, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], (path, width)
