"""The booking's organisation on each of its events (bookings.selectors.events_visible_to).

An SME's events feed filtered on a semi-join to its bookings walked every event in time
order (``bookingevent_at_id``) and dropped the others': a page cost in proportion to
1/share. With the organisation copied onto the event (a booking never changes hands) the
feed seeks (organization, at, id), the same at any depth and for any share. Added
nullable, filled from the bookings in one statement, then made NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = {
    "postgresql": ("UPDATE bookings_bookingevent e SET organization_id = b.organization_id "
                   "FROM bookings_booking b WHERE b.id = e.booking_id"),
    "default": ("UPDATE bookings_bookingevent SET organization_id = (SELECT b.organization_id "
                "FROM bookings_booking b WHERE b.id = bookings_bookingevent.booking_id)"),
}


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    schema_editor.execute(BACKFILL.get(vendor, BACKFILL["default"]))
    if vendor == "postgresql":
        # Check the new foreign keys now: PostgreSQL refuses to alter a table (NOT NULL,
        # the index) with deferred constraint checks pending in the transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("bookings", "0009_event_cursor_index"),
        ("organizations", "0006_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="bookingevent",
            name="organization",
            field=models.ForeignKey(
                editable=False, null=True,
                help_text="The organisation that made the booking (the booking's own).",
                on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="organizations.organization", verbose_name="organisation"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="bookingevent",
            name="organization",
            field=models.ForeignKey(
                editable=False,
                help_text="The organisation that made the booking (the booking's own).",
                on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="organizations.organization", verbose_name="organisation"),
        ),
        migrations.AddIndex(
            model_name="bookingevent",
            index=models.Index(fields=["organization", "at", "id"],
                               name="bookingevent_org_at_id"),
        ),
    ]
