"""What only PostgreSQL can show: how times are really stored."""

import pytest
from django.db import connection

from tests.factories import EquipmentFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_times_are_stored_as_utc_timestamptz(key_client):
    """Invariant 5: an API time with an offset lands in the database as that instant, in a
    timestamptz column, on a connection whose session zone is UTC."""
    client = key_client(OrganizationFactory(flagship=True))
    equipment = EquipmentFactory(hub__operator=client.organization)
    response = client.post("/api/v1/maintenance-windows/", {
        "equipment": equipment.pk, "start": "2030-05-01T09:00:00+08:00",
        "end": "2030-05-01T11:00:00+08:00", "reason": "Calibration"}, format="json")
    assert response.status_code == 201, response.content
    with connection.cursor() as cursor:
        cursor.execute("SHOW TIME ZONE")
        assert cursor.fetchone()[0] == "UTC"
        cursor.execute(
            "SELECT pg_typeof(start)::text, to_char(start AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD HH24:MI') FROM equipment_maintenancewindow WHERE id = %s",
            [response.json()["id"]])
        assert cursor.fetchone() == ("timestamp with time zone", "2030-05-01 01:00")
