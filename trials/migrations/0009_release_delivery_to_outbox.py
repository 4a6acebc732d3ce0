"""Every release gets its outbox message (same webhook id, state, attempts and next
attempt) and its DeliveryAttempt rows are copied into the outbox's DeliveryLog."""

from django.db import migrations

STATUS = {"pending": "pending", "delivered": "sent", "failed": "failed",
          "withdrawn": "cancelled"}


def forwards(apps, schema_editor):
    DatasetRelease = apps.get_model("trials", "DatasetRelease")
    DeliveryAttempt = apps.get_model("trials", "DeliveryAttempt")
    OutboxMessage = apps.get_model("core", "OutboxMessage")
    DeliveryLog = apps.get_model("core", "DeliveryLog")
    for release in DatasetRelease.objects.select_related("agreement").filter(message=None):
        message, created = OutboxMessage.objects.get_or_create(
            dedupe_key=f"prepared:dataset-release:{release.trial_id}:{release.agreement_id}",
            defaults=dict(
                channel="prepared", event_type="dataset.released",
                recipient=release.agreement.endpoint_url, message_id=release.webhook_id,
                payload={"trial": release.trial_id, "agreement": release.agreement_id},
                status=STATUS[release.status], attempts=release.attempts,
                next_attempt_at=(release.next_attempt_at if release.status == "pending"
                                 else None),
                sent_at=release.delivered_at, last_error=release.last_error))
        release.message = message
        release.save(update_fields=["message"])
        if not created:  # migrated before (and back): its log is there already
            continue
        DeliveryLog.objects.bulk_create([
            DeliveryLog(message=message, at=a.at, ok=a.ok, status_code=a.status_code,
                        error=a.error, response_excerpt=a.response_excerpt,
                        duration_ms=a.duration_ms)
            for a in DeliveryAttempt.objects.filter(release=release)])


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_outbox_prepared_channel_and_log_index"),
        ("trials", "0008_release_outbox_message"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
