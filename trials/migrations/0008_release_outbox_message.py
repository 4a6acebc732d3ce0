import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_outbox_prepared_channel_and_log_index"),
        ("trials", "0007_release_recipient_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetrelease",
            name="message",
            field=models.OneToOneField(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="dataset_release", to="core.outboxmessage",
                help_text="The outbox message that delivers this release: its attempts, "
                          "lease, next attempt and log of every attempt."),
        ),
    ]
