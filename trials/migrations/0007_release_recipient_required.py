import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("organizations", "0003_suspension_and_consent_rights"),
        ("trials", "0006_release_recipient_and_terms_backfill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="datasetrelease",
            name="recipient",
            field=models.ForeignKey(
                help_text="The university the SME consented to release this trial to: the only "
                          "one that ever sees the release, whatever the agreement says later.",
                limit_choices_to={"kind": "university"},
                on_delete=django.db.models.deletion.PROTECT,
                related_name="dataset_releases_received", to="organizations.organization"),
        ),
    ]
