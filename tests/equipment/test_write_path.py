"""Services are the only write path, whichever door: maintenance windows and status changes
from the admin console cancel and notify exactly as the API does (after a preview), the
API says what it cancelled, and the "equipment moves only within its operator's hubs"
rule holds in the admin and the API alike."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from django.contrib.messages import get_messages
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import Booking
from core.models import OutboxMessage
from equipment.admin import CONFIRM
from equipment.models import Equipment, Hub, MaintenanceWindow
from tests.fixtures.world import key_client, local
from tests.operations.conftest import member

pytestmark = pytest.mark.django_db

S = Booking.Status
WINDOWS = "/api/v1/maintenance-windows/"


@pytest.fixture
def people(sme, operator):
    return {"lead": member(sme, "lead@sme.example", "admin"),
            "ops": member(operator, "ops@op.example", "operator")}


@pytest.fixture
def book(equipment, sme, people, django_capture_on_commit_callbacks):
    def make(days: int, start_hour: int, end_hour: int) -> Booking:
        with django_capture_on_commit_callbacks(execute=True):
            return booking_services.create_booking(
                equipment_id=equipment.pk, organization=sme, start=local(days, start_hour),
                end=local(days, end_hour), purpose="trial", by_user=people["lead"])
    return make


def cancellation(booking: Booking) -> tuple:
    """What a cancellation left behind: status, its event, and the e-mails queued for it."""
    booking.refresh_from_db()
    event = booking.events.order_by("pk").last()
    emails = sorted(OutboxMessage.objects.filter(
        channel="email", event_type="booking.cancelled",
        dedupe_key__contains=f":booking-event:{event.pk}:").values_list("recipient", flat=True))
    return booking.status, event.code, event.reason, event.actor_organization_id, emails


def split(moment) -> tuple[str, str]:
    """An aware time as the admin's split date/time widgets take it (current time zone)."""
    moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")


def form_post(instance, **changes) -> dict:
    """The admin change form of ``instance`` as a browser would post it back."""
    json_fields = {f.name for f in instance._meta.fields if f.get_internal_type() == "JSONField"}
    data = {}
    for name, value in {**model_to_dict(instance), **changes}.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = ""
        elif name in json_fields:
            data[name] = json.dumps(value)
        elif isinstance(value, list):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    return data


def window_inline(*rows) -> dict:
    data = {"maintenance_windows-TOTAL_FORMS": str(len(rows)),
            "maintenance_windows-INITIAL_FORMS": "0",
            "maintenance_windows-MIN_NUM_FORMS": "0",
            "maintenance_windows-MAX_NUM_FORMS": "1000"}
    for i, (start, end, reason) in enumerate(rows):
        (sd, st), (ed, et) = split(start), split(end)
        data.update({f"maintenance_windows-{i}-start_0": sd,
                     f"maintenance_windows-{i}-start_1": st,
                     f"maintenance_windows-{i}-end_0": ed, f"maintenance_windows-{i}-end_1": et,
                     f"maintenance_windows-{i}-reason": reason})
    return data


def follow_preview(client, url, data, expected: list[Booking], capture):
    """POST the form, find the confirmation page listing ``expected``, confirm it."""
    preview = client.post(url, data)
    assert preview.status_code == 200, preview.content[:500]
    assert [t.name for t in preview.templates][0] == "admin/confirm_cancellations.html"
    assert [b.pk for b in preview.context["bookings"]] == [b.pk for b in expected]
    for booking in expected:
        booking.refresh_from_db()
        assert booking.status == S.CONFIRMED  # nothing changed before confirming
    repost = defaultdict(list)
    for name, value in preview.context["repost"]:
        repost[name].append(value)
    repost[CONFIRM] = ["1"]
    with capture(execute=True):
        response = client.post(url, dict(repost))
    assert response.status_code == 302, response.content[:500]
    return response


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- maintenance windows ------------------------------------------------------------------

def test_admin_maintenance_window_cancels_and_notifies_like_the_api(
        admin_client, equipment, operator, book, people, django_capture_on_commit_callbacks):
    by_api, by_admin, untouched = book(2, 9, 11), book(3, 9, 11), book(4, 9, 11)

    client = key_client(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(WINDOWS, {
            "equipment": equipment.pk, "start": local(2, 10).isoformat(),
            "end": local(2, 14).isoformat(), "reason": "Spindle bearings"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["cancelled_bookings"] == [by_api.pk]

    (sd, st), (ed, et) = split(local(3, 10)), split(local(3, 14))
    response = follow_preview(admin_client, reverse("admin:equipment_maintenancewindow_add"), {
        "equipment": equipment.pk, "start_0": sd, "start_1": st, "end_0": ed, "end_1": et,
        "reason": "Spindle bearings", "_save": "Save"}, [by_admin],
        django_capture_on_commit_callbacks)
    assert any(f"#{by_admin.pk}" in m for m in messages_of(response))

    expected = (S.CANCELLED, "booking.cancelled", "Maintenance: Spindle bearings",
                operator.pk, ["lead@sme.example", "ops@op.example"])
    assert cancellation(by_api) == expected
    assert cancellation(by_admin) == expected
    assert MaintenanceWindow.objects.filter(equipment=equipment).count() == 2
    untouched.refresh_from_db()
    assert untouched.status == S.CONFIRMED


def test_admin_maintenance_window_without_bookings_saves_at_once(admin_client, equipment):
    (sd, st), (ed, et) = split(local(5, 10)), split(local(5, 14))
    response = admin_client.post(reverse("admin:equipment_maintenancewindow_add"), {
        "equipment": equipment.pk, "start_0": sd, "start_1": st, "end_0": ed, "end_1": et,
        "reason": "Calibration", "_save": "Save"})
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get(equipment=equipment)
    assert window.reason == "Calibration" and window.created_by is not None


def test_admin_maintenance_windows_are_not_edited(admin_client, equipment):
    window = MaintenanceWindow.objects.create(equipment=equipment, start=local(5, 10),
                                              end=local(5, 12), reason="x")
    url = reverse("admin:equipment_maintenancewindow_change", args=[window.pk])
    (sd, st), (ed, et) = split(local(6, 10)), split(local(6, 12))
    response = admin_client.post(url, {"equipment": equipment.pk, "start_0": sd, "start_1": st,
                                       "end_0": ed, "end_1": et, "reason": "moved"})
    assert response.status_code == 403
    window.refresh_from_db()
    assert window.reason == "x"


def test_admin_inline_maintenance_window_cancels_like_the_api(
        admin_client, equipment, operator, book, django_capture_on_commit_callbacks):
    booking = book(2, 9, 11)
    url = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    data = {**form_post(equipment), **window_inline((local(2, 8), local(2, 10), "Coolant")),
            "_save": "Save"}
    follow_preview(admin_client, url, data, [booking], django_capture_on_commit_callbacks)
    assert cancellation(booking) == (S.CANCELLED, "booking.cancelled", "Maintenance: Coolant",
                                     operator.pk, ["lead@sme.example", "ops@op.example"])
    assert MaintenanceWindow.objects.get(equipment=equipment).reason == "Coolant"


# --- status changes -----------------------------------------------------------------------

def test_admin_marking_equipment_down_cancels_and_notifies_like_the_api(
        admin_client, hub, category, equipment, operator, sme, people,
        django_capture_on_commit_callbacks):
    from tests.fixtures.world import make_equipment

    other = make_equipment(hub, category, "cnc-2")
    with django_capture_on_commit_callbacks(execute=True):
        via_api = booking_services.create_booking(
            equipment_id=other.pk, organization=sme, start=local(2, 9), end=local(2, 11),
            purpose="trial", by_user=people["lead"])
        via_admin = booking_services.create_booking(
            equipment_id=equipment.pk, organization=sme, start=local(2, 9), end=local(2, 11),
            purpose="trial", by_user=people["lead"])

    with django_capture_on_commit_callbacks(execute=True):
        response = key_client(operator).patch(f"/api/v1/equipment/{other.pk}/",
                                              {"status": "down"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_bookings"] == [via_api.pk]

    url = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    follow_preview(admin_client, url, {**form_post(equipment, status="down"), **window_inline(),
                                       "_save": "Save"}, [via_admin],
                   django_capture_on_commit_callbacks)
    equipment.refresh_from_db()
    assert equipment.status == Equipment.Status.DOWN
    expected = (S.CANCELLED, "booking.cancelled", "Equipment is down.", operator.pk,
                ["lead@sme.example", "ops@op.example"])
    assert cancellation(via_api) == expected
    assert cancellation(via_admin) == expected


def test_api_patch_without_status_change_cancels_nothing(equipment, operator, book):
    booking = book(2, 9, 11)
    response = key_client(operator).patch(f"/api/v1/equipment/{equipment.pk}/",
                                          {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_bookings"] == []
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED


# --- the hub rule, in the service ---------------------------------------------------------

@pytest.fixture
def their_hub(other_operator):
    return Hub.objects.create(operator=other_operator, name="Changping", slug="changping",
                              timezone="Asia/Shanghai")


@pytest.fixture
def my_other_hub(operator):
    return Hub.objects.create(operator=operator, name="Shunyi", slug="shunyi",
                              timezone="Asia/Shanghai")


def test_api_refuses_moving_equipment_to_another_operators_hub(equipment, operator, their_hub,
                                                               my_other_hub):
    client = key_client(operator)
    response = client.patch(f"/api/v1/equipment/{equipment.pk}/", {"hub": their_hub.slug},
                            format="json")
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "hub_not_found"
    equipment.refresh_from_db()
    assert equipment.hub_id != their_hub.pk
    response = client.patch(f"/api/v1/equipment/{equipment.pk}/", {"hub": my_other_hub.slug},
                            format="json")
    assert response.status_code == 200, response.content
    equipment.refresh_from_db()
    assert equipment.hub_id == my_other_hub.pk


def test_admin_refuses_moving_equipment_to_another_operators_hub(admin_client, equipment,
                                                                 their_hub, my_other_hub):
    url = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    response = admin_client.post(url, {**form_post(equipment, hub=their_hub), **window_inline(),
                                       "_save": "Save"})
    assert response.status_code == 302 and response["Location"] == url
    assert any("No such hub" in m for m in messages_of(response))
    equipment.refresh_from_db()
    assert equipment.hub_id != their_hub.pk

    response = admin_client.post(url, {**form_post(equipment, hub=my_other_hub),
                                       **window_inline(), "_save": "Save"})
    assert response.status_code == 302 and response["Location"] != url
    equipment.refresh_from_db()
    assert equipment.hub_id == my_other_hub.pk


def test_hub_page_does_not_edit_equipment(admin_client, hub, equipment):
    """The hub page lists its equipment read-only (no status change that skips the
    service)."""
    response = admin_client.get(reverse("admin:equipment_hub_change", args=[hub.pk]))
    assert response.status_code == 200
    assert b'name="equipment-0-status"' not in response.content
    assert b'name="equipment-0-name"' not in response.content


def test_admin_adds_equipment_through_the_service(admin_client, hub, category):
    from equipment.models import Capability

    five_axis = Capability.objects.create(name="5-axis", slug="5-axis")
    template = Equipment(hub=hub, category=category, name="DMU 50", slug="dmu-50",
                         hourly_rate="300.00")
    data = {**form_post(template), "capabilities": [five_axis.pk], **window_inline(),
            "_save": "Save"}
    response = admin_client.post(reverse("admin:equipment_equipment_add"), data)
    assert response.status_code == 302, response.content[:800]
    created = Equipment.objects.get(slug="dmu-50")
    assert created.hub == hub and list(created.capabilities.all()) == [five_axis]

    # The service's validation holds in the admin too (granularity 30: 45 is refused).
    response = admin_client.post(reverse("admin:equipment_equipment_add"), {
        **data, "slug": "dmu-51", "min_duration": 45})
    assert not Equipment.objects.filter(slug="dmu-51").exists()


def test_admin_changes_a_hub_through_the_service(admin_client, hub):
    url = reverse("admin:equipment_hub_change", args=[hub.pk])
    data = {**form_post(hub, name_en="Yizhuang North"), "equipment-TOTAL_FORMS": "0",
            "equipment-INITIAL_FORMS": "0", "equipment-MIN_NUM_FORMS": "0",
            "equipment-MAX_NUM_FORMS": "1000", "_save": "Save"}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:800]
    hub.refresh_from_db()
    assert hub.name == "Yizhuang North"


def test_a_hubs_operator_is_fixed_at_every_door(admin_client, hub, operator):
    """Bookings and their events keep a copy of their hub's operator (each side's lists
    seek it), so a hub never changes hands: the service refuses, the admin shows the
    operator read-only and ignores a posted one, the API's field is read-only."""
    from core.errors import ValidationFailed
    from equipment import services as equipment_services
    from tests.fixtures.world import make_org

    rival = make_org("rival-works", "flagship")
    with pytest.raises(ValidationFailed) as refused:
        equipment_services.update_hub(hub=hub, by=operator, data={"operator": rival})
    assert {v.field: v.code for v in refused.value.violations} == {
        "operator": "hub_operator_fixed"}
    with pytest.raises(ValidationFailed):
        equipment_services.update_hub(hub=hub, by=operator, data={"operator_id": rival.pk})
    # The same operator is no change.
    equipment_services.update_hub(hub=hub, by=operator,
                                  data={"operator": operator, "address": "Kechuang St 9"})

    url = reverse("admin:equipment_hub_change", args=[hub.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="operator"' not in page.content
    data = {**form_post(hub, name_en="Yizhuang West"), "operator": rival.pk,
            "equipment-TOTAL_FORMS": "0", "equipment-INITIAL_FORMS": "0",
            "equipment-MIN_NUM_FORMS": "0", "equipment-MAX_NUM_FORMS": "1000",
            "_save": "Save"}
    assert admin_client.post(url, data).status_code == 302

    response = key_client(operator).patch(f"/api/v1/hubs/{hub.slug}/",
                                          {"operator": rival.slug}, format="json")
    assert response.status_code == 200
    hub.refresh_from_db()
    assert (hub.operator_id, hub.name, hub.address) == (operator.pk, "Yizhuang West",
                                                        "Kechuang St 9")


# --- qualifications ----------------------------------------------------------------------

def test_admin_grants_qualifications_through_the_service(admin_client, admin_user, equipment,
                                                        category, people):
    from equipment.models import Qualification

    url = reverse("admin:equipment_qualification_add")
    response = admin_client.post(url, {"user": people["lead"].pk, "equipment": equipment.pk})
    assert response.status_code == 302, response.content
    granted = Qualification.objects.get(user=people["lead"])
    assert (granted.equipment, granted.granted_by) == (equipment, admin_user)

    # Both an equipment and a category: refused with the model's rule, nothing saved.
    response = admin_client.post(url, {"user": people["ops"].pk, "equipment": equipment.pk,
                                       "category": category.pk})
    assert response.status_code == 200
    assert not Qualification.objects.filter(user=people["ops"]).exists()


def test_operators_grant_qualifications_only_on_their_own_equipment(equipment, operator,
                                                                   category, people):
    from core.errors import Forbidden
    from equipment import services as equipment_services
    from tests.fixtures.world import make_equipment, make_org

    rival = make_org("rival-works", "flagship")
    with pytest.raises(Forbidden) as refused:
        equipment_services.grant_qualification(user=people["lead"], equipment=equipment,
                                               by=rival)
    assert refused.value.code == "not_hub_operator"
    with pytest.raises(Forbidden) as refused:  # a category spans every hub: staff only
        equipment_services.grant_qualification(user=people["lead"], category=category,
                                               by=operator)
    assert refused.value.code == "not_staff"
    granted = equipment_services.grant_qualification(user=people["lead"], equipment=equipment,
                                                     by=operator)
    other = make_equipment(equipment.hub, category, "cnc-2")
    moved = equipment_services.update_qualification(qualification=granted,
                                                    data={"equipment": other}, by=operator)
    assert moved.equipment == other


# --- a stale copy never reverts a concurrent change ------------------------------------------

def test_a_stale_copy_does_not_revert_a_concurrent_status_change(equipment, operator, book):
    """A description change made from a copy read before the equipment went down (and its
    bookings were cancelled) leaves it down: only the changed field is written, on the
    row as locked."""
    from equipment import services

    booking = book(2, 9, 11)
    stale = Equipment.objects.select_related("hub").get(pk=equipment.pk)
    fresh = Equipment.objects.select_related("hub").get(pk=equipment.pk)
    down = services.update_equipment(equipment=fresh, by=operator, data={"status": "down"})
    assert down.cancelled_bookings == [booking.pk]

    saved = services.update_equipment(equipment=stale, by=operator,
                                      data={"description": "New operating manual"})
    assert saved.cancelled_bookings == []
    assert (saved.status, saved.description) == ("down", "New operating manual")
    equipment.refresh_from_db()
    assert (equipment.status, equipment.description) == ("down", "New operating manual")
    booking.refresh_from_db()
    assert booking.status == S.CANCELLED


# --- maintenance never overlaps a trial in progress ------------------------------------------

@pytest.fixture
def checked_in(equipment, operator, book):
    booking = book(2, 9, 11)
    return booking_services.check_in_booking(booking_id=booking.pk, organization=operator,
                                             now=local(2, 9))


def test_api_refuses_maintenance_over_a_trial_in_progress(equipment, operator, checked_in,
                                                          book):
    later = book(2, 13, 14)  # would be cancelled, but the whole window is refused
    response = key_client(operator).post(WINDOWS, {
        "equipment": equipment.pk, "start": local(2, 10).isoformat(),
        "end": local(2, 14).isoformat(), "reason": "Spindle"}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "maintenance_overlaps_trial_in_progress"
    assert f"#{checked_in.pk}" in body["detail"]
    assert body["bookings"] == [checked_in.pk]
    assert not MaintenanceWindow.objects.exists()
    checked_in.refresh_from_db()
    later.refresh_from_db()
    assert (checked_in.status, later.status) == (S.CHECKED_IN, S.CONFIRMED)


def test_admin_refuses_maintenance_over_a_trial_in_progress(admin_client, equipment,
                                                            checked_in):
    (sd, st), (ed, et) = split(local(2, 10)), split(local(2, 12))
    response = admin_client.post(reverse("admin:equipment_maintenancewindow_add"), {
        "equipment": equipment.pk, "start_0": sd, "start_1": st, "end_0": ed, "end_1": et,
        "reason": "Spindle", "_save": "Save"})
    assert response.status_code == 302
    assert any(f"#{checked_in.pk}" in m and "checked in" in m for m in messages_of(response))
    assert not MaintenanceWindow.objects.exists()


def test_admin_refuses_before_previewing_cancellations_it_would_not_make(
        admin_client, equipment, checked_in, book):
    """A window over a trial in progress and a confirmed booking: refused at once, not
    after a preview offering to cancel the confirmed one."""
    later = book(2, 13, 14)
    (sd, st), (ed, et) = split(local(2, 10)), split(local(2, 14))
    response = admin_client.post(reverse("admin:equipment_maintenancewindow_add"), {
        "equipment": equipment.pk, "start_0": sd, "start_1": st, "end_0": ed, "end_1": et,
        "reason": "Spindle", "_save": "Save"})
    assert response.status_code == 302
    assert any(f"#{checked_in.pk}" in m for m in messages_of(response))
    assert not MaintenanceWindow.objects.exists()
    later.refresh_from_db()
    assert later.status == S.CONFIRMED


def test_admin_inline_refuses_maintenance_over_a_trial_in_progress(admin_client, equipment,
                                                                   checked_in):
    url = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    response = admin_client.post(url, {
        **form_post(equipment, name="Renamed"),
        **window_inline((local(2, 8), local(2, 10), "Coolant")), "_save": "Save"})
    assert response.status_code == 302
    assert any(f"#{checked_in.pk}" in m for m in messages_of(response))
    assert not MaintenanceWindow.objects.exists()
    equipment.refresh_from_db()
    assert equipment.name != "Renamed"  # the whole save is refused


def test_equipment_goes_down_during_a_trial_in_progress_and_leaves_it_running(
        equipment, operator, checked_in, book):
    """An emergency during a running trial: allowed; what is to come is cancelled, the
    trial in progress is left for the operator to complete."""
    later = book(3, 9, 11)
    response = key_client(operator).patch(f"/api/v1/equipment/{equipment.pk}/",
                                          {"status": "down"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_bookings"] == [later.pk]
    checked_in.refresh_from_db()
    assert checked_in.status == S.CHECKED_IN


def test_the_same_maintenance_window_twice_is_one_at_every_door(admin_client, equipment,
                                                                operator):
    """A double submit or a second tab: the window is planned once; the API answers the
    second with 409 naming the first, the admin with a message; nothing more is saved."""
    body = {"equipment": equipment.pk, "start": local(5, 10).isoformat(),
            "end": local(5, 14).isoformat(), "reason": "Calibration"}
    client = key_client(operator)
    first = client.post(WINDOWS, body, format="json")
    assert first.status_code == 201, first.content
    again = client.post(WINDOWS, body, format="json")
    assert again.status_code == 409, again.content
    window = first.json()["id"]
    assert (again.json()["code"], again.json()["window"]) == ("maintenance_already_planned",
                                                               window)
    assert again.json()["detail"] == f"This maintenance window is already planned (#{window})."

    (sd, st), (ed, et) = split(local(5, 10)), split(local(5, 14))
    response = admin_client.post(reverse("admin:equipment_maintenancewindow_add"), {
        "equipment": equipment.pk, "start_0": sd, "start_1": st, "end_0": ed, "end_1": et,
        "reason": "Calibration", "_save": "Save"})
    assert response.status_code == 302
    assert any(f"already planned (#{window})" in m for m in messages_of(response))
    assert MaintenanceWindow.objects.filter(equipment=equipment).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_simultaneous_confirms_of_one_maintenance_window_plan_it_once(equipment,
                                                                            operator):
    from core.errors import Conflict
    from equipment import services
    from tests.bookings.test_concurrency import race

    results = race(8, lambda i: services.create_maintenance_window(
        equipment=equipment, by=operator, start=local(5, 10), end=local(5, 14),
        reason="Calibration"))
    planned = [r for r in results if isinstance(r, MaintenanceWindow)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(planned) == 1 and len(refused) == 7, results
    assert {r.code for r in refused} == {"maintenance_already_planned"}
    assert MaintenanceWindow.objects.filter(equipment=equipment).count() == 1
