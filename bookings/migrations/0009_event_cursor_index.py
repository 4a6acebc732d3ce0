"""Index for the events feed's cursor pages (bookings.events_api): keyset on (at, id).

The feed walks every event in (at, id) order and keeps those of the bookings the caller
sees (a semi-join to the booking, by its primary key); a booking's own history uses the
foreign key's index (a handful of rows, sorted)."""

from django.db import migrations, models

from core.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the table stays writable while the index is built.
    atomic = False

    dependencies = [
        ("bookings", "0008_cursor_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="bookingevent",
            index=models.Index(fields=["at", "id"], name="bookingevent_at_id"),
        ),
    ]
