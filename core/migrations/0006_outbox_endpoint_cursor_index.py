"""Index for a webhook endpoint's deliveries in cursor pages, newest first
(organizations.webhooks_api): keyset on (created, id) within the endpoint."""

from django.db import migrations, models

from core.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the table stays writable while the index is built.
    atomic = False

    dependencies = [
        ("core", "0005_verbose_names"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxmessage",
            index=models.Index(fields=["endpoint", "created", "id"],
                               name="outbox_endpoint_created_id"),
        ),
    ]
