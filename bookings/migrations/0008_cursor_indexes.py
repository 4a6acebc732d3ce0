"""Indexes for the bookings list's cursor pages (core.pagination): keyset on (start, id).

(organization, start, id) serves an SME's own list and replaces (organization, start),
a prefix of it; (start, id) serves the walk an operator's list filters by its hubs."""

from django.db import migrations, models

from core.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the table stays writable while the index is built.
    atomic = False

    dependencies = [
        ("bookings", "0007_booking_quote"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="booking",
            index=models.Index(fields=["organization", "start", "id"],
                               name="booking_org_start_id"),
        ),
        AddIndexConcurrently(
            model_name="booking",
            index=models.Index(fields=["start", "id"], name="booking_start_id"),
        ),
        # Dropped once its replacement exists: the SME's list is never without an index.
        RemoveIndexConcurrently(
            model_name="booking",
            name="bookings_bo_organiz_677e6a_idx",
        ),
    ]
