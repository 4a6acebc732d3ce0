"""JSON typed into the admin console gets the API parser's
checks: a document that is not an object, too deep, NaN, Infinity or a NUL is a field
error and nothing is saved; an empty box is the field's default, not a database error.
(The operators' console: tests/console/test_hostile_json.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from equipment.models import Equipment
from tests.equipment.test_catalogue_admin import change

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
HOSTILE = ['[1, 2]', '"just a string"', '{"a": NaN}', '{"a": 1e999}', '{"a": "\\u0000"}',
           DEEP, '{"a": ' * 6 + "1" + "}" * 6, '{"a": "' + "x" * 20_000 + '"}']


@pytest.mark.parametrize("specs", HOSTILE)
def test_the_admin_refuses_hostile_specs_and_the_catalogue_page_stays_up(admin_client,
                                                                          equipment, client,
                                                                          specs):
    before = Equipment.objects.get(pk=equipment.pk).specs
    response = change(admin_client, equipment, specs=specs)
    assert response.status_code in (200, 302)
    if response.status_code == 200:  # the form again, with the error at the field
        assert "specs" in response.context["adminform"].form.errors
    else:  # refused by the service's validation: a message, nothing saved
        assert response["Location"].endswith(f"/{equipment.pk}/change/")
    assert Equipment.objects.get(pk=equipment.pk).specs == before
    assert client.get(reverse("catalog:equipment", args=[equipment.pk])).status_code == 200


def test_empty_specs_in_the_admin_are_an_empty_document(admin_client, equipment):
    Equipment.objects.filter(pk=equipment.pk).update(specs={"axes": 5})
    # The page carries the stored document as the field's initial value (as a browser
    # sends it back), so the emptied box is a change.
    response = change(admin_client, equipment, specs="", **{"initial-specs": '{"axes": 5}'})
    assert response.status_code == 302
    assert Equipment.objects.get(pk=equipment.pk).specs == {}


def test_the_admin_report_refuses_a_year_past_2999(admin_client):
    response = admin_client.get(reverse("admin:bookings_booking_reports"), {
        "start": "2026-11-01", "end": "9999-12-31", "month": "2026-11"})
    assert response.status_code == 200
    assert "end" in response.context["form"].errors


def test_an_integer_too_long_to_read_is_a_field_error(admin_client, equipment):
    response = change(admin_client, equipment, specs='{"a": ' + "1" * 5000 + "}")
    assert response.status_code == 200
    assert "specs" in response.context["adminform"].form.errors


def test_emptied_opening_hours_stay_required(admin_client, equipment):
    from tests.equipment.test_write_path import form_post

    hub = equipment.hub
    before = hub.opening_hours
    data = {k: v for k, v in form_post(hub).items()} | {"opening_hours": "", "_save": "Save"}
    response = admin_client.post(reverse("admin:equipment_hub_change", args=[hub.pk]), data)
    assert response.status_code == 200
    assert "opening_hours" in response.context["adminform"].form.errors
    hub.refresh_from_db()
    assert hub.opening_hours == before


def test_specs_stored_as_a_list_before_validation_do_not_break_the_page(client, equipment):
    Equipment.objects.filter(pk=equipment.pk).update(specs=[1, 2])
    assert client.get(reverse("catalog:equipment", args=[equipment.pk])).status_code == 200
