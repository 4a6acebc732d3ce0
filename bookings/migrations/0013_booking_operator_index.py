"""An operator's bookings list seeks (operator, start, id) on the copy of 0012, and the
foreign keys to the equipment and the SME lose their own indexes: (equipment, start) and
(organization, start, id) lead with them, and every index is one more write per booking.
CONCURRENTLY on PostgreSQL: bookings go on being written meanwhile; the new index is
built before the old ones go."""

import django.db.models.deletion
from django.db import migrations, models

from core.migration_operations import AddIndexConcurrently, DropFieldIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("bookings", "0012_booking_operator"),
        ("equipment", "0001_initial"),
        ("organizations", "0006_verbose_names"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="booking",
            index=models.Index(fields=["operator", "start", "id"], name="booking_op_start_id"),
        ),
        DropFieldIndexConcurrently(
            model_name="booking",
            name="equipment",
            field=models.ForeignKey(db_index=False,
                                    on_delete=django.db.models.deletion.PROTECT,
                                    related_name="bookings", to="equipment.equipment",
                                    verbose_name="equipment"),
        ),
        DropFieldIndexConcurrently(
            model_name="booking",
            name="organization",
            field=models.ForeignKey(db_index=False, help_text="The booking SME.",
                                    on_delete=django.db.models.deletion.PROTECT,
                                    related_name="bookings", to="organizations.organization",
                                    verbose_name="organisation"),
        ),
    ]
