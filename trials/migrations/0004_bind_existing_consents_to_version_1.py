"""Every agreement gets its version 1 (its terms as they stand), and every consent given
before versions existed is bound to it."""

from django.db import migrations


def bind(apps, schema_editor):
    SharingAgreement = apps.get_model("trials", "SharingAgreement")
    AgreementVersion = apps.get_model("trials", "AgreementVersion")
    Consent = apps.get_model("trials", "Consent")
    StandingConsent = apps.get_model("trials", "StandingConsent")
    for agreement in SharingAgreement.objects.all():
        terms = {"anonymize": agreement.anonymize, "shift_timestamps": agreement.shift_timestamps,
                 "embargo_days": agreement.embargo_days, "license": agreement.license,
                 "hub": agreement.hub_id, "university": agreement.university_id,
                 "categories": sorted(agreement.categories.values_list("pk", flat=True))}
        version, _ = AgreementVersion.objects.get_or_create(
            agreement=agreement, number=agreement.version, defaults={"terms": terms})
        Consent.objects.filter(agreement=agreement, version__isnull=True).update(version=version)
        StandingConsent.objects.filter(agreement=agreement, version__isnull=True
                                       ).update(version=version)


class Migration(migrations.Migration):

    dependencies = [
        ("trials", "0003_agreement_versions_and_release_terms"),
    ]

    operations = [
        migrations.RunPython(bind, migrations.RunPython.noop),
    ]
