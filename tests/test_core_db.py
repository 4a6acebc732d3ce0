"""core.db: the hot path's INSERT and row reading give what the ORM gives (on SQLite
and on PostgreSQL, whichever the run uses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.models import Booking
from core import db
from equipment.models import Equipment, Hub
from tests.fixtures.world import local
from trials.models import Trial

pytestmark = pytest.mark.django_db


def test_insert_matches_what_the_orm_reads_back(equipment, sme):
    start = local(3, 9)
    with CaptureQueriesContext(connection) as queries:
        booking = db.insert(Booking(
            equipment=equipment, organization=sme, operator_id=equipment.hub.operator_id,
            start=start, end=start + timedelta(hours=2),
            blocked_until=start + timedelta(hours=2, minutes=15), status="confirmed",
            purpose="Fixture trial", price=Decimal("300.50")))
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT")
    assert booking.pk and not booking._state.adding
    stored = Booking.objects.get(pk=booking.pk)
    assert stored.start == start and stored.start.tzinfo is not None
    assert stored.price == Decimal("300.50") and stored.status == "confirmed"
    assert stored.created == booking.created  # auto_now_add filled by the insert
    assert stored.decision_reason == "" and stored.requested_by_id is None

    trial = db.insert(Trial(booking=booking))  # primary key given, JSON default
    assert trial.pk == booking.pk
    assert Trial.objects.get(pk=booking.pk).summary == {}


def test_instance_reads_a_joined_row_like_the_orm(equipment):
    sql = (f"SELECT {db.columns(Equipment, 'e')}, {db.columns(Hub, 'h')} "  # noqa: S608 - test
           "FROM equipment_equipment e JOIN equipment_hub h ON h.id = e.hub_id WHERE e.id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [equipment.pk])
        row = cursor.fetchone()
    read = db.instance(Equipment, row)
    hub = db.instance(Hub, row, db.width(Equipment))
    expected = Equipment.objects.select_related("hub").get(pk=equipment.pk)
    for field in Equipment._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    for field in Hub._meta.concrete_fields:
        assert getattr(hub, field.attname) == getattr(expected.hub, field.attname), field.name
    assert isinstance(read.hourly_rate, Decimal) and isinstance(read.specs, dict)
    assert read.created.tzinfo is not None and read.created < datetime.now(UTC)
    assert not read._state.adding
