"""The catalog: search by text, category, capability, hub and free time; equipment and
hub pages with the rules in plain words; bounded queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import CapabilityFactory, CategoryFactory, EquipmentFactory, HubFactory

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db


def names(response) -> set[str]:
    return {e.name for e in response.context["page"].object_list}


def test_lists_and_filters(client_sme, equipment, hub, operator):
    five_axis = CapabilityFactory(name="5-axis machining", slug="5-axis")
    robots = CategoryFactory(name="Industrial robotics", slug="robotics")
    other_hub = HubFactory(operator=operator, name="Shunyi", slug="shunyi")
    equipment.capabilities.set([five_axis])
    EquipmentFactory(hub=hub, category=robots, name="YuMi cobot", description="dual-arm")
    EquipmentFactory(hub=other_hub, category=equipment.category, name="Haas VF-2")
    url = reverse("bookings:catalog")
    assert names(client_sme.get(url)) == {"DMU 50", "YuMi cobot", "Haas VF-2"}
    assert names(client_sme.get(url, {"q": "dual-arm"})) == {"YuMi cobot"}
    assert names(client_sme.get(url, {"category": "robotics"})) == {"YuMi cobot"}
    assert names(client_sme.get(url, {"capability": "5-axis"})) == {"DMU 50"}
    assert names(client_sme.get(url, {"hub": "shunyi"})) == {"Haas VF-2"}
    response = client_sme.get(url, {"q": "DMU"})
    assert b"DMU 50" in response.content and b"400.00 per hour" in response.content


def test_free_between_uses_the_booking_engines_availability(client_sme, equipment, hub,
                                                            other_sme):
    busy = EquipmentFactory(hub=hub, category=equipment.category, name="Busy mill")
    start, end = local(3, 9), local(3, 12)
    make_booking(busy, other_sme, start - timedelta(hours=1), end + timedelta(hours=1))
    response = client_sme.get(reverse("bookings:catalog"),
                              {"free_from": form_time(start), "free_until": form_time(end)})
    matches = response.context["free"].matches
    assert [m.equipment.name for m in matches] == ["DMU 50"]
    assert matches[0].periods == [(start, end)]
    assert b"Busy mill" not in response.content
    assert b"Green Motor" not in response.content  # never who holds a slot


def test_free_between_needs_a_sensible_period(client_sme, equipment):
    url = reverse("bookings:catalog")
    only_start = client_sme.get(url, {"free_from": form_time(local(2, 9))})
    assert only_start.context["form"].errors == {
        "free_until": ["Give both ends of the period to look for free time."]}
    backwards = client_sme.get(url, {"free_from": form_time(local(2, 9)),
                                     "free_until": form_time(local(2, 8))})
    assert backwards.context["form"].errors == {
        "free_until": ["The end must be after the start."]}
    too_long = client_sme.get(url, {"free_from": form_time(local(1, 9)),
                                    "free_until": form_time(local(60, 9))})
    assert too_long.context["form"].errors == {
        "free_until": ["Ask for at most 31 days at a time."]}
    assert "page" in too_long.context  # the other filters still list equipment


def count_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return len(ctx.captured_queries)


def test_catalog_queries_do_not_grow_with_the_equipment(client_sme, hub, category):
    cap = CapabilityFactory()
    for _ in range(5):
        EquipmentFactory(hub=hub, category=category, capabilities=[cap])
    url = reverse("bookings:catalog")
    five = count_queries(client_sme, url)
    for _ in range(15):
        EquipmentFactory(hub=hub, category=category, capabilities=[cap])
    assert count_queries(client_sme, url) == five


def test_equipment_page_states_the_rules_in_plain_words(client_sme, hub, category):
    machine = EquipmentFactory(
        hub=hub, category=category, name="EOS M 290", slot_granularity=60, min_duration=240,
        max_duration=600, lead_time=1440, booking_horizon=90, changeover_buffer=120,
        approval_required=True, qualification_required=True, max_open_bookings_per_sme=2,
        specs={"build_volume_mm": [250, 250, 325], "laser_w": 400})
    text = client_sme.get(reverse("catalog:equipment", args=[machine.pk])).content.decode()
    for sentence in ("Bookings start and end on 1 h steps",
                     "A booking lasts at least 4 h and at most 10 h.",
                     "Book at least 24 h before the start.",
                     "Bookings open 90 days ahead.",
                     "2 h are kept free after each booking",
                     "The hub operator approves each booking",
                     "The trial lead must hold a qualification",
                     "may hold 2 open bookings",
                     "Build volume mm", "250 × 250 × 325", "¥100.00 per hour", "Monday"):
        assert sentence in text, sentence


def test_hub_page_lists_its_equipment_and_hours(client_sme, equipment, hub):
    text = client_sme.get(reverse("catalog:hub", args=[hub.slug])).content.decode()
    assert "DMU 50" in text and "Opening hours" in text and "00:00–24:00" in text
    assert client_sme.get(reverse("catalog:hub", args=["nope"])).status_code == 404
    assert client_sme.get(reverse("catalog:equipment", args=[99999])).status_code == 404
