"""Every release records its recipient — the university the SME consented to — and the
terms it was built under.

Releases made before the terms were versioned have empty ``terms`` and no consent: they
get the terms of the version their consent is bound to (version 1 when 0004 bound it), and
that consent. Their recipient is the university of those terms (the agreement's, where
there are none). Nothing falls back to an agreement's later terms."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    DatasetRelease = apps.get_model("trials", "DatasetRelease")
    AgreementVersion = apps.get_model("trials", "AgreementVersion")
    Consent = apps.get_model("trials", "Consent")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        # The new column's index and foreign key are made at the end of this migration, in
        # its transaction: no deferred constraint check may be pending by then.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for release in DatasetRelease.objects.select_related("agreement").iterator():
        fields = []
        if release.consent_id is None:
            given = (Consent.objects.filter(trial_id=release.trial_id,
                                            agreement_id=release.agreement_id)
                     .order_by(models.F("revoked_at").asc(nulls_first=True), "-granted_at"))
            if release.delivered_at is not None:
                given = given.filter(granted_at__lte=release.delivered_at)
            consent = given.select_related("version").first()
            if consent is not None:
                release.consent_id = consent.pk
                fields.append("consent")
        else:
            consent = Consent.objects.select_related("version").get(pk=release.consent_id)
        if not release.terms:
            version = (consent.version if consent is not None and consent.version_id else
                       AgreementVersion.objects.filter(agreement_id=release.agreement_id)
                       .order_by("number").first())
            if version is not None:
                release.terms = dict(version.terms)
                fields.append("terms")
        if release.recipient_id is None:
            release.recipient_id = ((release.terms or {}).get("university")
                                    or release.agreement.university_id)
            fields.append("recipient")
        if fields:
            release.save(update_fields=fields)
    if postgres:
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):

    dependencies = [
        ("organizations", "0003_suspension_and_consent_rights"),
        ("trials", "0005_consent_version_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetrelease",
            name="recipient",
            field=models.ForeignKey(
                help_text="The university the SME consented to release this trial to: the only "
                          "one that ever sees the release, whatever the agreement says later.",
                limit_choices_to={"kind": "university"}, null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="dataset_releases_received", to="organizations.organization"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
