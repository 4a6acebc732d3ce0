"""The booking's organisation and its hub's operator on each of its events
(bookings.selectors.events_visible_to).

An events feed filtered on a semi-join to the caller's bookings walked every event in
time order (``bookingevent_at_id``) and dropped the others': a page cost in proportion to
1/share, and on a city's platform every SME and every operator has a small share. With
both copied onto the event (a booking never changes hands; its equipment moves only
between hubs of one operator) each feed seeks (organization, at, id) or (operator, at,
id), the same at any depth and for any share; 0011 builds those indexes concurrently
(the foreign keys have no index of their own: those lead with them). Added nullable,
filled from the bookings in one statement, then made NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = {
    "postgresql": ("UPDATE bookings_bookingevent e SET organization_id = b.organization_id, "
                   "operator_id = h.operator_id FROM bookings_booking b "
                   "JOIN equipment_equipment q ON q.id = b.equipment_id "
                   "JOIN equipment_hub h ON h.id = q.hub_id WHERE b.id = e.booking_id"),
    "default": ("UPDATE bookings_bookingevent SET organization_id = (SELECT b.organization_id "
                "FROM bookings_booking b WHERE b.id = bookings_bookingevent.booking_id), "
                "operator_id = (SELECT h.operator_id FROM bookings_booking b "
                "JOIN equipment_equipment q ON q.id = b.equipment_id "
                "JOIN equipment_hub h ON h.id = q.hub_id "
                "WHERE b.id = bookings_bookingevent.booking_id)"),
}


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    schema_editor.execute(BACKFILL.get(vendor, BACKFILL["default"]))
    if vendor == "postgresql":
        # Check the new foreign keys now: PostgreSQL refuses to alter a table (NOT NULL)
        # with deferred constraint checks pending in the transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def copied(help_text: str, verbose_name: str, *, null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        editable=False, null=null, help_text=help_text, db_index=False,
        on_delete=django.db.models.deletion.PROTECT, related_name="+",
        to="organizations.organization", verbose_name=verbose_name)


ORGANIZATION = ("The organisation that made the booking (the booking's own).", "organisation")
OPERATOR = ("The operator of the booking's hub when the event was recorded.", "hub operator")


class Migration(migrations.Migration):

    dependencies = [
        ("bookings", "0009_event_cursor_index"),
        ("equipment", "0001_initial"),
        ("organizations", "0006_verbose_names"),
    ]

    operations = [
        migrations.AddField(model_name="bookingevent", name="organization",
                            field=copied(*ORGANIZATION, null=True)),
        migrations.AddField(model_name="bookingevent", name="operator",
                            field=copied(*OPERATOR, null=True)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="bookingevent", name="organization",
                              field=copied(*ORGANIZATION, null=False)),
        migrations.AlterField(model_name="bookingevent", name="operator",
                              field=copied(*OPERATOR, null=False)),
    ]
