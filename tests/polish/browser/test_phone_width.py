"""No page wider than a 390 px phone, in both languages, even with the longest words people
type: a 300-character purpose without a space, long hub names and e-mail addresses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.browser import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from allauth.account.models import EmailAddress  # noqa: E402

from organizations.models import Membership  # noqa: E402
from tests.factories import (  # noqa: E402
    TEST_PASSWORD,
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.fixtures.world import local, make_booking  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LONG_WORD = "Titanium-bracket-roughing-" * 11 + "x" * 14  # 300 characters, no space
EMAIL = "a.very.long.trial.lead.address.for.testing.wrapping@precision-parts-example.test"


@pytest.fixture
def world(transactional_db):
    operator = OrganizationFactory(flagship=True, name="AutoWorks Smart Factory")
    hub = HubFactory(
        operator=operator,
        slug="yizhuang",
        name="Yizhuang Economic-Technological-Development-Area Open Innovation Hub",
    )
    machine = EquipmentFactory(
        hub=hub,
        category=CategoryFactory(name="CNC machining", slug="cnc-machining"),
        name="DMG MORI DMU 50 third-generation five-axis universal milling machine",
        lead_time=0,
        min_duration=60,
        slot_granularity=30,
    )
    sme = OrganizationFactory(name="Precision Parts")
    user = UserFactory(email=EMAIL)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    MembershipFactory(user=user, organization=sme, role=Membership.Role.ADMIN)
    booking = make_booking(machine, sme, local(3, 9), local(3, 11), user=user, purpose=LONG_WORD)
    return {"machine": machine, "booking": booking, "user": user}


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(r"/catalog/"))


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_pages_fit_a_phone_with_the_longest_words(page, world, language):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, world["user"].email)
    page.locator(f'footer button[value="{language}"]').click()
    page.wait_for_load_state()
    booking, machine = world["booking"], world["machine"]
    start = local(3, 13).strftime("%Y-%m-%dT%H:%M")
    end = local(3, 15).strftime("%Y-%m-%dT%H:%M")
    urls = [
        "/catalog/",
        f"/bookings/{booking.pk}/",
        "/bookings/",
        f"/catalog/equipment/{machine.pk}/",
        f"/catalog/equipment/{machine.pk}/calendar/",
        f"/catalog/equipment/{machine.pk}/book/?start={start}&end={end}",
        "/organisation/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/2fa/",
        "/no-such-page/",
    ]
    for url in urls:
        response = page.goto(url)
        assert response.status < 400 or url == "/no-such-page/", (url, response.status)
        if "/book/" in url and page.locator("#id_purpose").count():
            page.fill("#id_purpose", LONG_WORD)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (url, language, width)
    page.goto(f"/bookings/{booking.pk}/")
    page.shot(f"booking-{language}")
