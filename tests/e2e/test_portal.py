"""The SME portal in a real browser: sign up with e-mail verification, log in, search,
book a free slot from the calendar, see the policy error for a bad slot, cancel, read a
trial's results with charts, give and revoke consent, switch to Chinese, phone width."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from allauth.account.models import EmailAddress  # noqa: E402
from django.core import mail  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from bookings.models import Booking  # noqa: E402
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
from tests.fixtures.world import collected_trial, local, make_booking  # noqa: E402
from trials import sharing  # noqa: E402
from trials.models import Consent  # noqa: E402

# Slow (a real browser): `make test` and CI run them, `make test-fast` leaves them out.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    operator = OrganizationFactory(flagship=True, name="AutoWorks Smart Factory")
    OrganizationFactory(university=True, name="Tsinghua Manufacturing Lab", slug="tsinghua")
    hub = HubFactory(operator=operator, name="Yizhuang Open Innovation Hub", slug="yizhuang")
    cnc = CategoryFactory(name="CNC machining", slug="cnc-machining")
    machine = EquipmentFactory(hub=hub, category=cnc, name="Haas VF-2 vertical machining centre",
                               lead_time=0, min_duration=60, slot_granularity=30)
    EquipmentFactory(hub=hub, category=CategoryFactory(name="Industrial robotics",
                                                       slug="robotics"),
                     name="ABB YuMi collaborative robot")
    sme = OrganizationFactory(name="Precision Parts")
    user = UserFactory(email="lead@precision.test")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    MembershipFactory(user=user, organization=sme, role=Membership.Role.ADMIN)
    sharing.create_agreement(
        operator=operator, university="tsinghua", hub="yizhuang", categories=["cnc-machining"],
        endpoint_url="http://127.0.0.1:9/hooks", embargo_days=30, anonymize=True,
        valid_from=datetime(2026, 1, 1, tzinfo=UTC), title="Machining data")
    return {"machine": machine, "sme": sme, "user": user}


def log_in(page, email, password=TEST_PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/catalog/"))


def test_sign_up_with_email_verification_then_log_in(page, world):
    page.goto("/")
    page.get_by_role("link", name="Register your company").click()
    page.fill("#id_email", "founder@robotics-e2e.test")
    page.fill("#id_organization_name", "NewCo Robotics")
    page.fill("#id_password1", "a-Long-enough-passw0rd")
    page.fill("#id_password2", "a-Long-enough-passw0rd")
    page.shot("1-sign-up")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    page.goto(link.group(1))
    page.shot("2-confirm")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    if "/accounts/login/" in page.url:
        log_in(page, "founder@robotics-e2e.test", "a-Long-enough-passw0rd")
    else:
        page.goto("/catalog/")
    expect(page.locator(".banner")).to_contain_text("NewCo Robotics is waiting for verification")
    page.shot("3-unverified-catalog")
    membership = Membership.objects.get(user__email="founder@robotics-e2e.test")
    assert membership.organization.verified is False


def test_search_book_bad_slot_and_cancel(page, world):
    log_in(page, "lead@precision.test")
    assert page.evaluate("typeof window.htmx") == "object"  # the script loads, no CDN
    page.fill("#id_q", "Haas")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#results")
    expect(results).to_contain_text("Haas VF-2")
    expect(results).not_to_contain_text("YuMi")
    page.shot("1-search")
    results.get_by_role("link", name=re.compile("See free slots")).first.click()
    expect(page.locator(".week-grid").first).to_be_visible()
    first_heading = page.locator("#week-h").inner_text()
    page.get_by_role("link", name=re.compile("Next week")).click()  # htmx swap
    expect(page.locator("#week-h")).not_to_have_text(first_heading)
    assert "from=" in page.url
    page.get_by_role("link", name=re.compile("Previous week")).click()
    expect(page.locator("#week-h")).to_have_text(first_heading)
    page.shot("2-calendar")

    # A free slot opens the form in place, prefilled.
    # The hub is open round the clock: each day is one free block from 00:00; a click on
    # the 09:00 row of the second day's proposes 09:00 (static/portal/week.js).
    block = page.locator('a.slot.free[data-start$="T00:00"]').nth(1)
    box = block.bounding_box()
    block.click(position={"x": box["width"] / 2, "y": box["height"] * 18.5 / 48})
    form = page.locator("#booking-form")
    expect(form).to_be_visible()
    start = page.input_value("#id_start")
    assert start.endswith("T09:00") and page.input_value("#id_end").endswith("T10:00")
    # Too short: the policy's answer, next to the field, in plain words.
    page.fill("#id_end", start[:11] + "09:30")
    page.fill("#id_purpose", "Roughing and finishing of a 6061 gearbox housing")
    page.shot("3-form")
    page.get_by_role("button", name="Book").click()
    expect(page.locator("#id_end_errors")).to_have_text(re.compile("A booking lasts at least 1 h"))
    page.shot("4-policy-error")
    assert not Booking.objects.exists()
    page.fill("#id_end", start[:11] + "11:00")
    page.get_by_role("button", name="Book").click()
    expect(page.locator(".messages")).to_contain_text("Booking confirmed.")
    booking = Booking.objects.get()
    assert booking.organization == world["sme"] and booking.status == "confirmed"
    page.shot("5-booked")

    page.get_by_role("link", name="My bookings", exact=True).click()
    expect(page.locator("table")).to_contain_text("Haas VF-2")
    page.get_by_role("link", name=f"#{booking.pk}").click()
    page.get_by_role("link", name="Cancel this booking…").click()
    # The confirmation states the fee (none: more than the late window ahead) first.
    expect(page.locator("#cancellation-fee")).to_contain_text("Cancelling now is free")
    assert Booking.objects.get().status == "confirmed"
    page.fill("#id_reason", "Material not delivered")
    page.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.locator(".messages")).to_contain_text(f"Booking #{booking.pk} is cancelled.")
    page.shot("6-cancelled")
    booking.refresh_from_db()
    assert booking.status == "cancelled"


def test_taken_slot_is_refused_with_a_clear_message(page, world):
    machine = world["machine"]
    other = OrganizationFactory(name="Green Motor")
    log_in(page, "lead@precision.test")
    page.goto(f"/catalog/equipment/{machine.pk}/book/?start="
              f"{local(3, 9):%Y-%m-%dT%H:%M}&end={local(3, 11):%Y-%m-%dT%H:%M}")
    page.fill("#id_purpose", "Trial")
    make_booking(machine, other, local(3, 10), local(3, 12))  # someone else was quicker
    page.get_by_role("button", name="Book").click()
    expect(page.locator("#form-errors")).to_contain_text("This slot is already taken.")
    expect(page.locator("main")).not_to_contain_text("Green Motor")


def test_results_chart_and_consent(page, world):
    machine, sme, user = world["machine"], world["sme"], world["user"]
    booking = make_booking(machine, sme, local(-2, 9), local(-2, 12),
                           status=Booking.Status.COMPLETED, user=user)
    trial = collected_trial(booking, readings=600)
    log_in(page, "lead@precision.test")
    page.get_by_role("link", name="Trial results", exact=True).click()
    page.get_by_role("link", name=f"#{trial.pk}").click()
    expect(page.locator("figure.chart svg")).to_have_count(2)
    expect(page.locator("#summary-h")).to_be_visible()
    expect(page.locator("figure.chart").first).to_contain_text("300 of 600 readings drawn")
    page.shot("1-results")
    sharing_section = page.locator("#sharing")
    expect(sharing_section).to_contain_text("Released no earlier than 30 days after")
    expect(sharing_section).to_contain_text("Your organisation's name and the trial plan are "
                                            "removed")
    page.get_by_label("I have read these terms").check()
    page.get_by_role("button", name="Consent to sharing with Tsinghua").click()
    expect(page.locator(".messages")).to_contain_text("You consented to sharing")
    page.shot("2-consented")
    assert Consent.objects.get().revoked_at is None
    page.get_by_role("button", name="Revoke consent for Tsinghua").click()
    expect(page.locator(".messages")).to_contain_text("Consent revoked")
    page.shot("3-revoked")
    assert Consent.objects.get().revoked_at is not None
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    assert download.value.suggested_filename == f"trial-{trial.pk}.csv"


def test_switch_to_chinese(page, world):
    log_in(page, "lead@precision.test")
    page.locator('footer button[value="zh-hans"]').click()
    expect(page.locator("h1")).to_have_text("查找设备")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator("nav.main-nav")).to_contain_text("我的预约")
    page.goto(f"/catalog/equipment/{world['machine'].pk}/")
    expect(page.locator("main")).to_contain_text("预约规则")
    page.shot("1-chinese")
    page.locator('footer button[value="en"]').click()
    expect(page.locator("h1")).to_contain_text("Haas VF-2")
    expect(page.locator("main")).to_contain_text("Booking rules")


def test_phone_width_has_no_sideways_scrolling(page, world):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "lead@precision.test")
    for url in ("/catalog/", f"/catalog/equipment/{world['machine'].pk}/calendar/",
                "/bookings/", "/organisation/"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (url, width)
    page.goto(f"/catalog/equipment/{world['machine'].pk}/calendar/")
    page.shot("1-phone-calendar")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it is visible
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["x"] >= 0
