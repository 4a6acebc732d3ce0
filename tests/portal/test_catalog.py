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
                                    "free_until": form_time(local(100, 9))})
    assert too_long.context["form"].errors == {
        "free_until": ["Ask for at most 92 days at a time."]}
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


# --- the public, bilingual catalogue (issue 15, part 3) ----------------------------------

@pytest.fixture
def five_axis(equipment, category, hub):
    """DMU 50 in both languages, a five-axis machining centre with specs and a photo."""
    from django.core.cache import cache

    from equipment.models import TERMS_CACHE_KEY
    from tests.factories import SpecLabelFactory

    cache.delete(TERMS_CACHE_KEY)
    category.name_zh_hans = "数控加工"
    category.save()
    cap = CapabilityFactory(slug="5-axis", name_en="Five-axis machining",
                            name_zh_hans="五轴加工")
    SpecLabelFactory(key="travel_mm", label_en="Travel (X × Y × Z)",
                     label_zh_hans="行程（X × Y × Z）", unit="mm")
    hub.name_zh_hans = "亦庄基地"
    hub.save()
    equipment.name_zh_hans = "DMU 50五轴加工中心"
    equipment.specs = {"travel_mm": [650, 520, 475], "axes": 5}
    equipment.save()
    equipment.capabilities.set([cap])
    yield equipment
    cache.delete(TERMS_CACHE_KEY)


def chinese(client):
    client.cookies["django_language"] = "zh-hans"
    return client


def test_anonymous_visitors_search_and_see_equipment(client, five_axis, hub, category):
    EquipmentFactory(hub=hub, category=category, name="Haas VF-2")
    url = reverse("bookings:catalog")
    assert names(client.get(url, {"q": "五轴"})) == {"DMU 50"}
    assert names(client.get(url, {"q": "five-axis"})) == {"DMU 50"}
    assert names(client.get(url, {"q": "haas"})) == {"Haas VF-2"}
    page = client.get(reverse("catalog:equipment", args=[five_axis.pk])).content.decode()
    assert "Travel (X × Y × Z)" in page and "650 × 520 × 475 mm" in page
    week = reverse("bookings:calendar", args=[five_axis.pk])
    login = f'{reverse("account_login")}?next={week}'
    assert f'href="{login}"' in page and f'{reverse("account_signup")}?next={week}' in page


def test_anonymous_visitors_are_asked_to_log_in_to_book(client, five_axis):
    week = client.get(reverse("bookings:calendar", args=[five_axis.pk]))
    assert week.status_code == 200 and "Log in" in week.content.decode()
    free = week.context["week"].free[0]
    book = (reverse("bookings:book", args=[five_axis.pk])
            + f"?start={free.book_start:%Y-%m-%dT%H:%M}&end={free.book_end:%Y-%m-%dT%H:%M}")
    response = client.get(book)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")
    assert not five_axis.bookings.exists()


def test_chinese_pages_show_the_catalogue_in_chinese(client, five_axis, hub):
    chinese(client)
    search = client.get(reverse("bookings:catalog"), {"q": "五轴"}).content.decode()
    detail = client.get(reverse("catalog:equipment", args=[five_axis.pk])).content.decode()
    hub_page = client.get(reverse("catalog:hub", args=[hub.slug])).content.decode()
    week = client.get(reverse("bookings:calendar", args=[five_axis.pk])).content.decode()
    for page in (search, detail, hub_page):
        assert "DMU 50五轴加工中心" in page and "数控加工" in page and "亦庄基地" in page
        assert "五轴加工" in page
        for english in ("CNC machining", "Five-axis machining", "Yizhuang Hub", "Available"):
            assert english not in page, english
    assert "行程（X × Y × Z）" in detail and "Travel" not in detail and "轴数" not in detail
    assert "DMU 50五轴加工中心" in week and "Yizhuang Hub" not in week


def test_untranslated_data_falls_back_to_english(client, equipment):
    chinese(client)
    page = client.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert "DMU 50" in page and "CNC machining" in page


def test_down_equipment_offers_no_booking_and_says_why(client, client_sme, equipment, hub,
                                                     category):
    down = EquipmentFactory(hub=hub, category=category, name="Broken mill",
                            status="down")
    calendar_of_down = reverse("bookings:calendar", args=[down.pk])
    for who in (client, client_sme):
        listing = who.get(reverse("bookings:catalog")).content.decode()
        assert reverse("bookings:calendar", args=[equipment.pk]) in listing
        assert calendar_of_down not in listing
        assert "Out of service for now" in listing
        page = who.get(reverse("catalog:equipment", args=[down.pk])).content.decode()
        assert calendar_of_down not in page and "See free slots" not in page
        assert "cannot be booked" in page and "out of service" in page
    week = client_sme.get(calendar_of_down)
    assert week.context["week"].free == []
    assert reverse("bookings:book", args=[down.pk]) not in week.content.decode().split(
        "free-list")[1].split("</ul>")[0]


def test_cards_and_pages_show_the_status(client, equipment):
    listing = client.get(reverse("bookings:catalog")).content.decode()
    assert '<span class="badge available">Available</span>' in listing
    page = client.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert '<span class="badge available">Available</span>' in page


def test_a_maintenance_window_now_is_announced(client, equipment):
    from tests.factories import MaintenanceWindowFactory

    MaintenanceWindowFactory(equipment=equipment, start=local(0, 0),
                             end=local(1, 0) + timedelta(hours=12), reason="Spindle")
    page = client.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert "In maintenance until" in page and "12:00" in page


def test_photos_and_documents_on_the_pages(client, equipment, operator, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from equipment import services
    from tests.equipment.test_catalogue import PDF, image_file

    settings.MEDIA_ROOT = tmp_path
    photo = services.add_equipment_photo(equipment=equipment, by=operator,
                                         upload=image_file(), caption_en="The cell")
    document = services.add_equipment_document(
        equipment=equipment, by=operator, upload=SimpleUploadedFile("d.pdf", PDF),
        title_en="Cell safety rules", title_zh_hans="单元安全规程", kind="safety")
    thumb = reverse("catalog:photo", args=[photo.pk, "thumb"])
    listing = client.get(reverse("bookings:catalog")).content.decode()
    assert f'src="{thumb}"' in listing
    page = client.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert f'src="{thumb}"' in page and 'alt="The cell"' in page
    assert reverse("catalog:document", args=[document.pk]) in page
    assert "Cell safety rules" in page and f"PDF, {len(PDF)}\xa0bytes" in page
    chinese(client)
    page = client.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert "单元安全规程" in page and "Cell safety rules" not in page


def test_trial_pages_name_metrics_in_the_readers_language(client_sme, trial):
    from django.core.cache import cache

    from equipment.models import TERMS_CACHE_KEY
    from tests.factories import MetricFactory

    MetricFactory(key="spindle_load", label_en="Spindle load", label_zh_hans="主轴负载",
                  unit="%")
    cache.delete(TERMS_CACHE_KEY)
    try:
        chinese(client_sme)
        page = client_sme.get(reverse("trials:detail", args=[trial.pk])).content.decode()
        assert "主轴负载" in page and "spindle_load" not in page
        assert "主轴负载（%）随时间变化" in page  # the chart's title
    finally:
        cache.delete(TERMS_CACHE_KEY)
