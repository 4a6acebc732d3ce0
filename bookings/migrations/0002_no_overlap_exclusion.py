"""Invariant 1 on PostgreSQL: no two active bookings of one equipment overlap, the
changeover buffer included ([start, blocked_until) ranges). A GiST exclusion constraint
(btree_gist for the equality on equipment_id) makes the database the referee. SQLite
has no such constraint; there, write transactions are serialised (BEGIN IMMEDIATE) and
the service's check decides."""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

CREATE = """
ALTER TABLE bookings_booking ADD CONSTRAINT booking_no_overlap
EXCLUDE USING gist (
    equipment_id WITH =,
    tstzrange("start", "blocked_until", '[)') WITH &&
) WHERE (status IN ('requested', 'confirmed', 'checked_in'));
"""
DROP = "ALTER TABLE bookings_booking DROP CONSTRAINT IF EXISTS booking_no_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        migrations.RunPython(forwards, backwards),
    ]
