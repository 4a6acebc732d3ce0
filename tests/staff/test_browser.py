"""The staff verification queue end to end in a browser (Debian's Chromium, the live
server), in both languages and on a phone: refuse one SME with a reason, verify another,
approve a waiting request; the SMEs' administrators get their e-mails."""

from __future__ import annotations

from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from bookings.models import Booking
from organizations.models import Membership, Organization
from tests.factories import TEST_PASSWORD, MembershipFactory, OrganizationFactory, UserFactory
from tests.fixtures.browser import CHROMIUM
from tests.staff.conftest import old_request

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

# Slow (a real browser): `make test` and CI run them, `make test-fast` leaves them out.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ENGLISH_HEADING = "organisations awaiting verification"


def applicant(name: str, slug: str, admin_email: str) -> Organization:
    org = OrganizationFactory(name=name, slug=slug, verified=False)
    MembershipFactory(
        organization=org, role=Membership.Role.ADMIN, user=UserFactory(email=admin_email)
    )
    return org


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_staff_work_the_queues_in_a_browser(
    browser, live_server, screenshots, language, equipment, sme
):
    staff = UserFactory(email="staff@platform.test", is_staff=True, is_superuser=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    refused = applicant("Shaky Parts", "shaky", "boss@shaky.test")
    verified = applicant("Solid Gears", "solid", "boss@solid.test")
    waiting = old_request(equipment, sme, days=2)

    context = browser.new_context(
        locale="en-US", viewport={"width": 390, "height": 844}, base_url=live_server.url
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def fits(name: str) -> None:
        page.wait_for_load_state()
        page.screenshot(path=str(screenshots / f"staff-{language}-{name}.png"), full_page=True)
        width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], (name, width)

    page.goto(f"/accounts/login/?next={reverse('admin:index')}")
    page.fill("#id_login", "staff@platform.test")
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"**{reverse('admin:index')}")
    queue = page.locator("#queue-verification")
    assert queue.locator("li.queue-item").count() == 2
    heading = queue.locator("h2").inner_text()
    assert heading.startswith("2")
    assert (ENGLISH_HEADING in heading) == (language == "en")
    fits("index")

    # Refuse one, with a reason (a missing reason is said at its field first).
    item = queue.locator("li.queue-item", has_text="Shaky Parts")
    item.locator("a.button").click()
    page.wait_for_url("**/refuse/**")
    fits("refuse")
    page.locator("input[type=submit].default").click()
    assert page.locator(".form-row.errors").count() == 1
    page.fill("textarea[name=reason]", "The credit code belongs to another company.")
    page.locator("input[type=submit].default").click()
    page.wait_for_url(f"**{reverse('admin:index')}")
    assert queue.locator("li.queue-item").count() == 1

    # Verify the other straight from the queue.
    queue.locator("li.queue-item", has_text="Solid Gears").locator("input[type=submit]").click()
    page.wait_for_url(f"**{reverse('admin:index')}")
    assert queue.locator("li.queue-item").count() == 0
    assert queue.locator("p.queue-empty").is_visible()

    # Approve the request that has waited two days, with a reason.
    requests = page.locator("#queue-waiting-requests")
    requests.locator("li.queue-item a.button").first.click()
    page.wait_for_url("**/approve/**")
    fits("approve")
    page.fill("textarea[name=reason]", "Approved by the platform: the operator is away.")
    page.locator("input[type=submit].default").click()
    page.wait_for_url(f"**{reverse('admin:index')}")
    assert requests.locator("li.queue-item").count() == 0
    fits("done")
    context.close()

    assert errors == []
    assert Organization.objects.get(pk=verified.pk).verified
    assert not Organization.objects.get(pk=refused.pk).verified
    waiting.refresh_from_db()
    assert (waiting.status, waiting.decision_reason) == (
        Booking.Status.CONFIRMED,
        "Approved by the platform: the operator is away.",
    )
    to = sorted(
        (m.extra_headers["X-Testbed-Event"], m.to[0])
        for m in mail.outbox
        if m.extra_headers.get("X-Testbed-Event", "").startswith("organization.")
    )
    assert to == [
        ("organization.refused", "boss@shaky.test"),
        ("organization.verified", "boss@solid.test"),
    ]
