"""The equipment's hub's operator on each booking (bookings.selectors.bookings_visible_to).

An operator's bookings list filtered on a join to its hubs and walked every booking in
time order (``booking_start_id``), keeping its own: a page cost in proportion to
1/share, and on a city's platform every operator has a small share. With the operator
copied onto the booking (a hub stays with its operator; equipment moves only between one
operator's hubs) the list seeks (operator, start, id), built concurrently in 0013 (the
foreign key has no index of its own: that one leads with it). Added nullable, filled from
the equipment's hub in one statement, then made NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = {
    "postgresql": ("UPDATE bookings_booking b SET operator_id = h.operator_id "
                   "FROM equipment_equipment q JOIN equipment_hub h ON h.id = q.hub_id "
                   "WHERE q.id = b.equipment_id"),
    "default": ("UPDATE bookings_booking SET operator_id = (SELECT h.operator_id "
                "FROM equipment_equipment q JOIN equipment_hub h ON h.id = q.hub_id "
                "WHERE q.id = bookings_booking.equipment_id)"),
}


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    schema_editor.execute(BACKFILL.get(vendor, BACKFILL["default"]))
    if vendor == "postgresql":
        # Check the new foreign key now: PostgreSQL refuses to alter a table (NOT NULL)
        # with deferred constraint checks pending in the transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def operator(*, null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        editable=False, null=null, help_text="The operator of the equipment's hub.",
        db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+",
        to="organizations.organization", verbose_name="hub operator")


class Migration(migrations.Migration):

    dependencies = [
        ("bookings", "0011_event_feed_indexes"),
        ("equipment", "0001_initial"),
        ("organizations", "0006_verbose_names"),
    ]

    operations = [
        migrations.AddField(model_name="booking", name="operator", field=operator(null=True)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="booking", name="operator",
                              field=operator(null=False)),
    ]
