from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from equipment.hours import OFFICE_HOURS
from equipment.models import Equipment, Hub, MaintenanceWindow
from tests.factories import (
    CapabilityFactory,
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MaintenanceWindowFactory,
    OrganizationFactory,
    next_hour,
)

pytestmark = pytest.mark.django_db

EQUIPMENT = "/api/v1/equipment/"
HUBS = "/api/v1/hubs/"
WINDOWS = "/api/v1/maintenance-windows/"


@pytest.fixture
def operator(key_client):
    """A flagship firm's API client and a hub it runs."""
    client = key_client(OrganizationFactory(flagship=True, slug="autoworks"))
    client.hub = HubFactory(operator=client.organization, slug="autoworks-yizhuang")
    return client


@pytest.fixture
def other_operator(key_client):
    client = key_client(OrganizationFactory(flagship=True, slug="phonetech"))
    client.hub = HubFactory(operator=client.organization, slug="phonetech-changping")
    return client


@pytest.fixture
def sme(key_client):
    return key_client(OrganizationFactory(sme=True, slug="precisionparts"))


def slugs(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["slug"] for row in response.json()["results"]}


def new_equipment(hub_slug: str, **overrides) -> dict:
    return {
        "hub": hub_slug, "slug": "new-cell", "name": "New robot cell",
        "category": CategoryFactory(slug="industrial-robotics").slug,
        "capabilities": [CapabilityFactory(slug="welding").slug],
        "hourly_rate": "450.00", "specs": {"payload_kg": 210},
        "policy": {"slot_granularity": 30, "min_duration": 60, "max_duration": 240,
                   "changeover_buffer": 30, "approval_required": True},
        "result_source": {"kind": "http", "url": "https://gw.example/cell", "secret": "s3cret"},
        **overrides,
    }


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


# --- reading the catalog ----------------------------------------------------------------

def test_list_and_detail(sme):
    dmu = EquipmentFactory(name="DMU 50", slug="dmu-50", specs={"axes": 5},
                           capabilities=[CapabilityFactory(slug="5-axis")],
                           result_source_kind="http", result_source_url="https://gw.example/x",
                           result_source_secret="top-secret")
    EquipmentFactory()
    assert slugs(sme.get(EQUIPMENT)) == {"dmu-50", Equipment.objects.exclude(pk=dmu.pk).get().slug}

    response = sme.get(f"{EQUIPMENT}{dmu.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == dmu.pk and body["name"] == "DMU 50"
    assert body["hub"] == dmu.hub.slug and body["category"] == dmu.category.slug
    assert body["capabilities"] == ["5-axis"]
    assert body["specs"] == {"axes": 5}
    assert body["timezone"] == "Asia/Shanghai"
    assert body["policy"]["slot_granularity"] == 30
    # The gateway's address is the hub operator's business (issue 12): an SME sees the kind.
    assert body["result_source"] == {"kind": "http"}
    assert "top-secret" not in response.content.decode()
    assert "gw.example" not in response.content.decode()


def test_unknown_equipment_is_404_problem(sme):
    assert_problem(sme.get(f"{EQUIPMENT}999999/"), 404)


def test_filters(sme):
    robots, cnc = CategoryFactory(slug="industrial-robotics"), CategoryFactory(slug="cnc")
    welding, pick = CapabilityFactory(slug="welding", name="Welding"), CapabilityFactory(
        slug="pick-and-place", name="Pick and place")
    hub = HubFactory(slug="shunyi", name="Shunyi Pilot Plant")
    EquipmentFactory(slug="weld-cell", name="KUKA welding cell", category=robots, hub=hub,
                     capabilities=[welding, pick])
    EquipmentFactory(slug="yumi", name="ABB YuMi", category=robots, capabilities=[pick],
                     description="Dual-arm cobot for small parts")
    EquipmentFactory(slug="haas", name="Haas VF-2", category=cnc, status="down")

    assert slugs(sme.get(EQUIPMENT, {"hub": "shunyi"})) == {"weld-cell"}
    assert slugs(sme.get(EQUIPMENT, {"category": "industrial-robotics"})) == {"weld-cell", "yumi"}
    assert slugs(sme.get(EQUIPMENT, {"capability": "pick-and-place"})) == {"weld-cell", "yumi"}
    assert slugs(sme.get(EQUIPMENT, {"capability": "pick-and-place,welding"})) == {"weld-cell"}
    assert slugs(sme.get(EQUIPMENT, {"status": "down"})) == {"haas"}
    assert slugs(sme.get(EQUIPMENT, {"status": "available"})) == {"weld-cell", "yumi"}
    assert slugs(sme.get(EQUIPMENT, {"q": "kuka"})) == {"weld-cell"}
    assert slugs(sme.get(EQUIPMENT, {"q": "cobot"})) == {"yumi"}  # description
    assert slugs(sme.get(EQUIPMENT, {"q": "shunyi"})) == {"weld-cell"}  # hub name
    assert slugs(sme.get(EQUIPMENT, {"q": "welding cell"})) == {"weld-cell"}  # all words
    assert slugs(sme.get(EQUIPMENT, {"hub": "no-such-hub"})) == set()


def test_search_matching_several_capabilities_lists_equipment_once(sme):
    EquipmentFactory(slug="cell", capabilities=[CapabilityFactory(name="Arc welding"),
                                                CapabilityFactory(name="Spot welding")])
    response = sme.get(EQUIPMENT, {"q": "welding"})
    assert response.json()["count"] == 1
    assert [row["slug"] for row in response.json()["results"]] == ["cell"]


def test_forty_capabilities_at_once_are_one_answer_not_an_error(sme):
    capabilities = [CapabilityFactory(slug=f"cap-{i}") for i in range(40)]
    EquipmentFactory(slug="all-of-them", capabilities=capabilities)
    EquipmentFactory(slug="all-but-one", capabilities=capabilities[1:])
    every = ",".join(c.slug for c in capabilities)
    assert slugs(sme.get(EQUIPMENT, {"capability": every})) == {"all-of-them"}
    assert slugs(sme.get(EQUIPMENT, {"capability": every + ",cap-0"})) == {"all-of-them"}
    assert slugs(sme.get(EQUIPMENT, {"capability": every + ",no-such"})) == set()


def test_search_text_longer_than_the_portals_box_is_400(sme):
    EquipmentFactory(slug="cell", name="Welding cell")
    body = assert_problem(sme.get(EQUIPMENT, {"q": "welding " * 300}), 400)
    assert "q" in body["errors"]
    assert slugs(sme.get(EQUIPMENT, {"q": "welding " * 12})) == {"cell"}


def test_invalid_status_filter_is_400(sme):
    body = assert_problem(sme.get(EQUIPMENT, {"status": "broken"}), 400)
    assert "status" in body["errors"]


def test_pagination_shape(sme):
    hub, category = HubFactory(), CategoryFactory()
    EquipmentFactory.create_batch(51, hub=hub, category=category)
    first = sme.get(EQUIPMENT).json()
    assert list(first) == ["count", "next", "previous", "results"]
    assert first["count"] == 51 and len(first["results"]) == 50
    assert first["previous"] is None and first["next"].endswith("page=2")
    second = sme.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert second["previous"] is not None
    ids = {r["id"] for r in first["results"]} | {r["id"] for r in second["results"]}
    assert len(ids) == 51


def test_list_query_count_does_not_grow_with_rows(sme):
    hub, category = HubFactory(), CategoryFactory()
    caps = CapabilityFactory.create_batch(3)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = sme.get(EQUIPMENT)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()["count"]

    EquipmentFactory.create_batch(5, hub=hub, category=category, capabilities=caps)
    queries()  # the first call records the key's last use; measure the calls after it
    few, count = queries()
    assert count == 5
    EquipmentFactory.create_batch(45, hub=HubFactory(), category=CategoryFactory(),
                                  capabilities=caps)
    many, count = queries()
    assert count == 50
    assert many == few


def test_hubs_list_and_detail(sme, operator):
    HubFactory(slug="berlin-lab", timezone="Europe/Berlin", opening_hours=OFFICE_HOURS)
    response = sme.get(HUBS)
    assert response.status_code == 200
    assert {h["slug"] for h in response.json()["results"]} == {"autoworks-yizhuang",
                                                                "berlin-lab"}
    detail = sme.get(f"{HUBS}berlin-lab/").json()
    assert detail["timezone"] == "Europe/Berlin"
    assert detail["opening_hours"] == OFFICE_HOURS
    assert sme.get(f"{HUBS}autoworks-yizhuang/").json()["operator"] == "autoworks"
    assert slugs(sme.get(HUBS, {"operator__slug": "autoworks"})) == {"autoworks-yizhuang"}
    assert_problem(sme.get(f"{HUBS}nope/"), 404)


def test_operator_creates_a_hub_sme_may_not(operator, sme):
    data = {"slug": "new-hub", "name": "New hub", "opening_hours": {"sat": [["22:00", "06:00"]]}}
    response = operator.post(HUBS, data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["operator"] == "autoworks"
    assert Hub.objects.get(slug="new-hub").operator == operator.organization

    assert_problem(sme.post(HUBS, {**data, "slug": "sme-hub"}, format="json"), 403)
    assert not Hub.objects.filter(slug="sme-hub").exists()


def test_bad_opening_hours_are_400(operator):
    body = assert_problem(operator.post(HUBS, {"slug": "h", "name": "H", "opening_hours": {
        "mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, format="json"), 400)
    assert "opening_hours" in body["errors"]
    assert not Hub.objects.filter(slug="h").exists()


def test_operator_cannot_patch_another_operators_hub(operator, other_operator):
    response = operator.patch(f"{HUBS}{other_operator.hub.slug}/", {"name": "Mine now"},
                              format="json")
    assert_problem(response, 404)
    other_operator.hub.refresh_from_db()
    assert other_operator.hub.name != "Mine now"


# --- operators change their own catalog -------------------------------------------------

def test_operator_creates_equipment_in_own_hub(operator):
    response = operator.post(EQUIPMENT, new_equipment(operator.hub.slug), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["policy"]["changeover_buffer"] == 30 and body["policy"]["approval_required"]
    assert body["capabilities"] == ["welding"]
    assert "secret" not in body["result_source"]
    equipment = Equipment.objects.get(pk=body["id"])
    assert equipment.hub == operator.hub
    assert equipment.max_duration == 240
    assert equipment.result_source_secret == "s3cret"
    assert list(equipment.capabilities.values_list("slug", flat=True)) == ["welding"]


def test_operators_write_the_catalogue_in_both_languages(operator, sme):
    """The API writes the Chinese texts beside the English ones (``*_zh_hans``): the
    portal's Chinese readers see them; blank clears one (they read the English again);
    a text over its length is a 400 that writes nothing."""
    hub = operator.post(HUBS, {"slug": "yz", "name": "Yizhuang Hub", "name_zh_hans": "亦庄基地",
                               "address": "1 Kechuang St", "address_zh_hans": "科创街1号",
                               "description_zh_hans": "汽车试制线"}, format="json")
    assert hub.status_code == 201, hub.content
    assert {k: hub.json()[k] for k in ("name_zh_hans", "address_zh_hans",
                                       "description_zh_hans")} == {
        "name_zh_hans": "亦庄基地", "address_zh_hans": "科创街1号",
        "description_zh_hans": "汽车试制线"}
    created = operator.post(EQUIPMENT, new_equipment(
        "yz", name_zh_hans=" 焊接机器人单元 ", description="Six-axis welding cell",
        description_zh_hans="六轴焊接单元"), format="json")
    assert created.status_code == 201, created.content
    url = f"{EQUIPMENT}{created.json()['id']}/"
    shown = sme.get(url).json()
    assert (shown["name"], shown["name_zh_hans"], shown["description_zh_hans"]) == (
        "New robot cell", "焊接机器人单元", "六轴焊接单元")
    page = sme.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert page["name"] == "New robot cell"  # the API's own field stays English
    equipment = Equipment.objects.get(pk=created.json()["id"])
    with translation.override("zh-hans"):
        assert (equipment.name, equipment.hub.name) == ("焊接机器人单元", "亦庄基地")

    cleared = operator.patch(url, {"description_zh_hans": ""}, format="json")
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["description_zh_hans"] is None
    assert cleared.json()["name_zh_hans"] == "焊接机器人单元"  # not named: kept
    too_long = operator.patch(url, {"name_zh_hans": "长" * 201}, format="json")
    assert_problem(too_long, 400)
    assert "name_zh_hans" in too_long.json()["errors"]
    equipment.refresh_from_db()
    with translation.override("zh-hans"):
        assert (equipment.name, equipment.description) == ("焊接机器人单元",
                                                           "Six-axis welding cell")


def test_operator_patches_own_equipment(operator):
    equipment = EquipmentFactory(hub=operator.hub, hourly_rate="100.00")
    response = operator.patch(f"{EQUIPMENT}{equipment.pk}/",
                              {"hourly_rate": "120.50", "policy": {"lead_time": 120}},
                              format="json")
    assert response.status_code == 200, response.content
    equipment.refresh_from_db()
    assert str(equipment.hourly_rate) == "120.50"
    assert equipment.lead_time == 120
    assert equipment.min_duration == 60  # untouched policy fields stay


def test_operator_cannot_patch_another_operators_equipment(operator, other_operator):
    theirs = EquipmentFactory(hub=other_operator.hub, name="Theirs", hourly_rate="100.00")
    response = operator.patch(f"{EQUIPMENT}{theirs.pk}/",
                              {"name": "Mine", "hourly_rate": "1.00"}, format="json")
    assert_problem(response, 404)
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and str(theirs.hourly_rate) == "100.00"


def test_operator_cannot_move_equipment_into_another_operators_hub(operator, other_operator):
    mine = EquipmentFactory(hub=operator.hub)
    response = operator.patch(f"{EQUIPMENT}{mine.pk}/", {"hub": other_operator.hub.slug},
                              format="json")
    assert_problem(response, 404)
    mine.refresh_from_db()
    assert mine.hub == operator.hub


def test_operator_cannot_add_equipment_to_another_operators_hub(operator, other_operator):
    response = operator.post(EQUIPMENT, new_equipment(other_operator.hub.slug), format="json")
    assert assert_problem(response, 403)["code"] == "not_hub_operator"
    assert not Equipment.objects.exists()


def test_sme_cannot_add_equipment(sme, operator):
    response = sme.post(EQUIPMENT, new_equipment(operator.hub.slug), format="json")
    assert assert_problem(response, 403)["code"] == "not_operator"
    assert not Equipment.objects.exists()


def test_invalid_policy_is_400_field_by_field_and_writes_nothing(operator):
    data = new_equipment(operator.hub.slug, policy={
        "slot_granularity": 30, "min_duration": 45, "max_duration": 240,
        "changeover_buffer": 10})
    body = assert_problem(operator.post(EQUIPMENT, data, format="json"), 400)
    # Errors are named as the client sent the fields: inside "policy".
    assert {"policy.min_duration", "policy.changeover_buffer"} <= set(body["errors"])
    assert not Equipment.objects.exists()


def test_min_above_max_is_400_on_patch_and_changes_nothing(operator):
    equipment = EquipmentFactory(hub=operator.hub, min_duration=60, max_duration=120)
    response = operator.patch(f"{EQUIPMENT}{equipment.pk}/",
                              {"name": "Renamed", "policy": {"min_duration": 180}}, format="json")
    body = assert_problem(response, 400)
    assert body["errors"]
    equipment.refresh_from_db()
    assert equipment.name != "Renamed"
    assert (equipment.min_duration, equipment.max_duration) == (60, 120)


def test_http_result_source_needs_a_url(operator):
    data = new_equipment(operator.hub.slug, result_source={"kind": "http"})
    body = assert_problem(operator.post(EQUIPMENT, data, format="json"), 400)
    assert "result_source.url" in body["errors"]
    assert not Equipment.objects.exists()


# --- maintenance windows ----------------------------------------------------------------

def test_operator_plans_and_removes_maintenance(operator, other_operator):
    mine = EquipmentFactory(hub=operator.hub)
    MaintenanceWindowFactory(equipment=EquipmentFactory(hub=other_operator.hub))
    start = next_hour(48)
    response = operator.post(WINDOWS, {
        "equipment": mine.pk, "start": start.isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(), "reason": "Spindle bearings"},
        format="json")
    assert response.status_code == 201, response.content
    window = MaintenanceWindow.objects.get(pk=response.json()["id"])
    assert window.start == start and window.end == start + timedelta(hours=4)

    listed = operator.get(WINDOWS).json()["results"]
    assert [w["id"] for w in listed] == [window.pk]  # not the other operator's

    assert operator.delete(f"{WINDOWS}{window.pk}/").status_code == 204
    assert not MaintenanceWindow.objects.filter(pk=window.pk).exists()


def test_maintenance_window_times_with_offset_are_stored_as_the_same_instant(operator):
    equipment = EquipmentFactory(hub=operator.hub)
    response = operator.post(WINDOWS, {
        "equipment": equipment.pk, "start": "2030-05-01T09:00:00+08:00",
        "end": "2030-05-01T11:00:00+08:00", "reason": "Calibration"}, format="json")
    assert response.status_code == 201, response.content
    window = MaintenanceWindow.objects.get()
    assert window.start.isoformat() == "2030-05-01T01:00:00+00:00"


@pytest.mark.parametrize(("start", "end", "field"), [
    ("2030-05-01T09:00:00", "2030-05-01T11:00:00+08:00", "start"),
    ("2030-05-01T09:00:00+08:00", "2030-05-01T11:00", "end"),
])
def test_naive_datetime_is_400(operator, start, end, field):
    equipment = EquipmentFactory(hub=operator.hub)
    response = operator.post(WINDOWS, {"equipment": equipment.pk, "start": start, "end": end,
                                       "reason": "Calibration"}, format="json")
    body = assert_problem(response, 400)
    assert list(body["errors"]) == [field]
    assert not MaintenanceWindow.objects.exists()


def test_maintenance_end_before_start_is_400(operator):
    equipment = EquipmentFactory(hub=operator.hub)
    response = operator.post(WINDOWS, {
        "equipment": equipment.pk, "start": "2030-05-01T11:00:00+08:00",
        "end": "2030-05-01T09:00:00+08:00", "reason": "Calibration"}, format="json")
    assert "end" in assert_problem(response, 400)["errors"]
    assert not MaintenanceWindow.objects.exists()


def test_maintenance_on_another_operators_equipment_is_refused(operator, other_operator):
    theirs = EquipmentFactory(hub=other_operator.hub)
    response = operator.post(WINDOWS, {
        "equipment": theirs.pk, "start": "2030-05-01T09:00:00+08:00",
        "end": "2030-05-01T11:00:00+08:00", "reason": "Sabotage"}, format="json")
    # Another operator's equipment is no choice of the caller's: a field error, as for an
    # id that does not exist (nothing says whose it is).
    assert list(assert_problem(response, 400)["errors"]) == ["equipment"]
    assert not MaintenanceWindow.objects.exists()


def test_operator_cannot_see_or_delete_another_operators_window(operator, other_operator):
    window = MaintenanceWindowFactory(equipment=EquipmentFactory(hub=other_operator.hub))
    assert_problem(operator.get(f"{WINDOWS}{window.pk}/"), 404)
    assert_problem(operator.delete(f"{WINDOWS}{window.pk}/"), 404)
    assert MaintenanceWindow.objects.filter(pk=window.pk).exists()


# --- outside the routes -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/whatever/", "/api/v2/equipment/", "/api/nothing"])
def test_unknown_api_path_is_404_problem_json(api_client, path):
    body = assert_problem(api_client.get(path), 404)
    assert body["detail"]
