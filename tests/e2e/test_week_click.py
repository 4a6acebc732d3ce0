"""The week page in a real browser: a click in a free block books from the row clicked
(static/portal/week.js), the keyboard keeps the block's start, an anonymous click goes to
the login page whole, and a phone's width neither scrolls sideways nor wraps the links."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from organizations.models import Membership  # noqa: E402
from tests.factories import (  # noqa: E402
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.fixtures.world import local  # noqa: E402

from .test_portal import log_in  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def lathe(transactional_db):
    operator = OrganizationFactory(flagship=True, name="AutoWorks")
    hub = HubFactory(operator=operator, name="Yizhuang", slug="yizhuang",
                     opening_hours={d: [["08:00", "20:00"]] for d in EVERY_DAY})
    lathe = EquipmentFactory(hub=hub, category=CategoryFactory(slug="turning"), name="Lathe",
                             lead_time=0, min_duration=60, max_duration=480,
                             slot_granularity=30, booking_horizon=30)
    user = UserFactory(email="lead@precision.test")
    MembershipFactory(user=user, organization=OrganizationFactory(name="Precision Parts"),
                      role=Membership.Role.ADMIN)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return lathe


def calendar_url(lathe) -> str:
    return f"/catalog/equipment/{lathe.pk}/calendar/?from={local(1, 0).date().isoformat()}"


def tomorrows_block(page):
    day = local(1, 0).date().isoformat()
    return page.locator(f'a.slot.free[data-start="{day}T08:00"][data-end="{day}T20:00"]')


def click_row(block, row: int, rows: int) -> None:
    """A pointer click in the middle of the block's ``row``-th row (from 0)."""
    box = block.bounding_box()
    block.click(position={"x": box["width"] / 2, "y": box["height"] * (row + .5) / rows})


def test_a_click_books_from_the_row_clicked(page, lathe):
    log_in(page, "lead@precision.test")
    page.goto(calendar_url(lathe))
    block = tomorrows_block(page)
    expect(block).to_be_visible()
    day = local(1, 0).date().isoformat()
    click_row(block, 14, 24)  # 08:00 + 14 half hours: 15:00
    expect(page.locator("#booking-form")).to_be_visible()
    assert page.input_value("#id_start") == f"{day}T15:00"
    assert page.input_value("#id_end") == f"{day}T16:00"
    page.shot("1-15h")
    # The last row: the hour before the block's end (the minimum fits inside it).
    expect(page.locator("#book-h")).to_be_focused()
    click_row(block, 23, 24)
    expect(page.locator("#id_start")).to_have_value(f"{day}T19:00")
    assert page.input_value("#id_end") == f"{day}T20:00"
    # The keyboard keeps the block's start (after a pointer click rewrote the link too).
    expect(page.locator("#book-h")).to_be_focused()  # portal.js, once the form settled
    block.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_start")).to_have_value(f"{day}T08:00")
    assert page.input_value("#id_end") == f"{day}T09:00"
    # After the week is swapped by htmx, clicks still pick their row.
    page.get_by_role("link", name=re.compile("Next week")).click()
    page.get_by_role("link", name=re.compile("Previous week")).click()
    expect(tomorrows_block(page)).to_be_visible()
    click_row(tomorrows_block(page), 4, 24)
    expect(page.locator("#id_start")).to_have_value(f"{day}T10:00")


def test_an_anonymous_click_opens_the_login_page_whole(page, lathe):
    page.goto(calendar_url(lathe))
    click_row(tomorrows_block(page), 14, 24)
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    booking = urlsplit(parse_qs(urlsplit(page.url).query)["next"][0])
    assert booking.path == f"/catalog/equipment/{lathe.pk}/book/"
    assert parse_qs(booking.query) == {"start": [f"{local(1, 0).date().isoformat()}T15:00"],
                                       "end": [f"{local(1, 0).date().isoformat()}T16:00"]}
    expect(page.locator("#booking-panel")).to_have_count(0)  # a page of its own
    expect(page.locator("#id_login")).to_be_visible()


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
def test_a_phone_shows_the_week_without_sideways_scrolling(browser, live_server, lathe,
                                                            screenshots, language):
    context = browser.new_context(locale=language, viewport={"width": 390, "height": 844},
                                  base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto(calendar_url(lathe))
        expect(page.locator(".week-grid").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # The title on its own line; the previous and next links share the one below.
        title = page.locator("#week-h").bounding_box()
        following = page.locator('.week-nav a[rel="next"]').bounding_box()
        assert following["y"] >= title["y"] + title["height"] - 1
        assert following["height"] < 40  # one line
        # Each day's heading is one line of name and one of date, not clipped.
        heading = page.locator(".week-day-h").first
        assert heading.evaluate("e => e.scrollHeight <= e.clientHeight + 1")
        assert heading.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        page.screenshot(path=str(screenshots / f"week-phone-{language}.png"), full_page=True)
    finally:
        context.close()
