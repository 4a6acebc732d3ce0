"""The catalogue's free search in a real browser: a button search (htmx) with the end
before the start shows the error at its field, and 60 minutes is a minimum the browser
takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from tests.factories import (  # noqa: E402
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    OrganizationFactory,
)
from tests.fixtures.world import local  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mill(transactional_db):
    hub = HubFactory(operator=OrganizationFactory(flagship=True), slug="yizhuang")
    return EquipmentFactory(hub=hub, category=CategoryFactory(slug="cnc"), name="Mill",
                            lead_time=0, min_duration=60, max_duration=480,
                            slot_granularity=30, booking_horizon=30)


def fill_period(page, start, end, minutes="60"):
    page.fill("#id_free_from", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_free_until", end.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_min_minutes", minutes)


def test_a_button_search_shows_field_errors(page, mill):
    page.goto("/catalog/")
    fill_period(page, local(2, 12), local(2, 9))
    page.get_by_role("button", name="Search").click()
    error = page.locator("#id_free_until_errors")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The end must be after the start.")
    # 60 minutes passes the browser's own checks: the search ran and lists the mill.
    fill_period(page, local(2, 9), local(2, 17))
    assert page.eval_on_selector("#id_min_minutes", "e => e.checkValidity()")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#id_free_until_errors")).to_have_count(0)
    link = page.locator(f'#results a[href^="/catalog/equipment/{mill.pk}/book/?start="]')
    expect(link.first).to_be_visible()


def test_the_period_row_is_level(page, mill):
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/catalog/")
    tops = [page.locator(sel).bounding_box()["y"]
            for sel in ("#id_free_from", "#id_free_until", "#id_min_minutes")]
    assert max(tops) - min(tops) < 2, tops
