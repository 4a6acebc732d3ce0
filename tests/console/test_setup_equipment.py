"""The console's equipment pages: the list, the edit page through ``update_equipment`` (the
secret never shown, refusals at their fields, a status change previewed before it cancels
bookings) and "test connection"."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from equipment.models import Equipment
from tests.fixtures.peers import Reply, results_csv
from tests.fixtures.world import local, make_booking

from .test_setup_world import equipment_form

pytestmark = pytest.mark.django_db

SECRET = "gateway-s3cret-never-shown"


def edit_url(equipment) -> str:
    return reverse("console:equipment-edit", args=[equipment.pk])


def test_the_list_shows_the_operators_equipment_only(console_member, equipment, other_equipment):
    page = console_member.get(reverse("console:equipment"))
    assert page.status_code == 200
    assert edit_url(equipment).encode() in page.content
    assert b"Other CNC" not in page.content


def test_another_operators_equipment_is_not_found(console_admin, other_equipment):
    assert console_admin.get(edit_url(other_equipment)).status_code == 404
    response = console_admin.post(
        edit_url(other_equipment), equipment_form(other_equipment, name="Mine now")
    )
    assert response.status_code == 404
    other_equipment.refresh_from_db()
    assert other_equipment.name == "Other CNC"
    test = reverse("console:equipment-test", args=[other_equipment.pk])
    assert console_admin.post(test).status_code == 404


def test_an_edit_is_saved_through_the_service(console_member, equipment):
    response = console_member.post(
        edit_url(equipment),
        equipment_form(
            equipment, name="DMU 50 five-axis", hourly_rate="450.00", approval_required="on"
        ),
    )
    assert response.status_code == 302
    equipment.refresh_from_db()
    assert (equipment.name, str(equipment.hourly_rate), equipment.approval_required) == (
        "DMU 50 five-axis",
        "450.00",
        True,
    )


def test_a_broken_rule_is_shown_at_its_field_and_nothing_changes(console_member, equipment):
    response = console_member.post(
        edit_url(equipment), equipment_form(equipment, min_duration="45", name="Renamed")
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "multiple of the slot granularity" in " ".join(form.errors["min_duration"])
    equipment.refresh_from_db()
    assert (equipment.min_duration, equipment.name) == (60, "DMU 50")


def test_source_settings_errors_name_their_key_at_the_configuration(console_member, equipment):
    response = console_member.post(
        edit_url(equipment),
        equipment_form(
            equipment,
            result_source_kind="mqtt",
            result_source_url="mqtt://broker.example",
            result_source_config=json.dumps({"topic": "plant/#/cell"}),
        ),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors["result_source_config"]
    assert any(error.startswith("topic: ") for error in errors), errors
    equipment.refresh_from_db()
    assert equipment.result_source_kind == Equipment.ResultSourceKind.NONE


def test_the_stored_secret_is_never_shown_and_kept_unless_replaced(
    console_member, equipment, settings
):
    equipment.result_source_kind = "http"
    equipment.result_source_url = "https://gateway.example/results"
    equipment.result_source_secret = SECRET
    equipment.save()
    page = console_member.get(edit_url(equipment))
    assert page.status_code == 200 and SECRET.encode() not in page.content
    assert b"A secret is stored" in page.content

    # Saving without typing a secret keeps it.
    console_member.post(edit_url(equipment), equipment_form(equipment, name="Kept"))
    equipment.refresh_from_db()
    assert (equipment.name, equipment.result_source_secret) == ("Kept", SECRET)

    # A new one replaces it, and is not shown either.
    response = console_member.post(
        edit_url(equipment),
        equipment_form(equipment, result_source_secret="brand-new-secret"),
        follow=True,
    )
    equipment.refresh_from_db()
    assert equipment.result_source_secret == "brand-new-secret"
    assert b"brand-new-secret" not in response.content

    # A refused save does not echo it back either.
    response = console_member.post(
        edit_url(equipment),
        equipment_form(equipment, min_duration="45", result_source_secret="typed-again"),
    )
    assert response.status_code == 400 and b"typed-again" not in response.content
    equipment.refresh_from_db()
    assert equipment.result_source_secret == "brand-new-secret"


def test_going_down_previews_the_bookings_and_cancels_only_on_confirm(
    console_member, equipment, sme, other_sme
):
    first = make_booking(equipment, sme, local(2, 9), local(2, 11))
    second = make_booking(
        equipment, other_sme, local(3, 9), local(3, 11), status=Booking.Status.REQUESTED
    )
    form = equipment_form(equipment, status="down")
    preview = console_member.post(edit_url(equipment), form)
    assert preview.status_code == 200
    assert [b.pk for b in preview.context["bookings"]] == [first.pk, second.pk]
    assert b"Precision Parts" in preview.content and b"Green Motor" in preview.content
    equipment.refresh_from_db()
    first.refresh_from_db()
    assert equipment.status == "available" and first.status == Booking.Status.CONFIRMED

    confirmed = console_member.post(
        edit_url(equipment), {**form, "confirm_cancellations": "1"}, follow=True
    )
    assert confirmed.status_code == 200
    equipment.refresh_from_db()
    assert equipment.status == "down"
    for booking in (first, second):
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CANCELLED
    assert f"#{first.pk}".encode() in confirmed.content


def test_going_down_without_bookings_saves_at_once(console_member, equipment):
    response = console_member.post(edit_url(equipment), equipment_form(equipment, status="down"))
    assert response.status_code == 302
    equipment.refresh_from_db()
    assert equipment.status == "down"


def test_test_connection_without_a_source_says_so(console_member, equipment):
    page = console_member.post(reverse("console:equipment-test", args=[equipment.pk]))
    assert page.status_code == 200
    assert page.context["check_error"]
    assert page.context["check"] is None


def test_test_connection_reports_the_metrics_found(console_member, http_equipment, gateway):
    gateway.reply(Reply(body=results_csv(timezone.now())))
    page = console_member.post(reverse("console:equipment-test", args=[http_equipment.pk]))
    assert page.status_code == 200
    check = page.context["check"]
    assert check.ok and {f.metric for f in check.metrics} == {"spindle_load", "vibration_rms"}
    assert b"spindle_load" in page.content
    assert b"s3cret" not in page.content  # the fixture's stored secret


def test_test_connection_failure_is_said_in_plain_words(console_member, http_equipment, gateway):
    gateway.reply(Reply(status=500, body=b"boom"))
    page = console_member.post(reverse("console:equipment-test", args=[http_equipment.pk]))
    assert page.status_code == 200
    assert not page.context["check"].ok
    assert b"The test of the result source failed" in page.content


def test_removing_the_stored_secret(console_member, http_equipment):
    page = console_member.get(edit_url(http_equipment))
    assert b'name="clear_secret"' in page.content
    form = equipment_form(http_equipment, clear_secret="on")
    form["result_source_url"] = http_equipment.result_source_url
    assert console_member.post(edit_url(http_equipment), form).status_code == 302
    http_equipment.refresh_from_db()
    assert http_equipment.result_source_secret == ""
    assert b'name="clear_secret"' not in console_member.get(edit_url(http_equipment)).content
