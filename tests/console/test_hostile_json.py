"""The operators' console's equipment page: a hostile source configuration (too deep,
NaN, a NUL) is a field error, not a server error, and nothing is saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from equipment.models import Equipment
from tests.console.test_setup_world import equipment_form
from tests.equipment.test_hostile_json import DEEP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("config", [DEEP, '{"a": NaN}', '{"topic": "\\u0000"}'])
def test_the_console_refuses_a_hostile_source_configuration(console_member, equipment, config):
    response = console_member.post(reverse("console:equipment-edit", args=[equipment.pk]),
                                   equipment_form(equipment, result_source_config=config))
    assert response.status_code == 400
    assert "result_source_config" in response.context["form"].errors
    assert Equipment.objects.get(pk=equipment.pk).result_source_config == {}
