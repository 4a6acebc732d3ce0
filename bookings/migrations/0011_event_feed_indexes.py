"""The events feed's indexes on the copied columns of 0010: an SME's feed seeks
(organization, at, id), an operator's (operator, at, id). CONCURRENTLY on PostgreSQL:
bookings go on being written while they are built."""

from django.db import migrations, models

from core.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("bookings", "0010_bookingevent_organization"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="bookingevent",
            index=models.Index(fields=["organization", "at", "id"],
                               name="bookingevent_org_at_id"),
        ),
        AddIndexConcurrently(
            model_name="bookingevent",
            index=models.Index(fields=["operator", "at", "id"], name="bookingevent_op_at_id"),
        ),
    ]
