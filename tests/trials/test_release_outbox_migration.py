"""Releases delivered by the trials-own engine before issue 13 keep their history: the
migration gives each its outbox message (same webhook id, state and attempts) and copies
its DeliveryAttempt rows into the outbox's DeliveryLog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.models import DeliveryLog, OutboxMessage
from tests.trials.test_consent_recipient import delivered
from tests.trials.test_sharing import collected, university
from trials.models import DatasetRelease

__all__ = ["collected", "university"]  # fixtures shared with test_sharing

BEFORE = [("trials", "0007_release_recipient_required")]


def latest() -> list[tuple[str, str]]:
    """Every app's newest migration: back to where the test began, whatever came later."""
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection).graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_existing_releases_and_their_attempts_move_to_the_outbox(
        collected, operator, sme, hub, university, receiver,
        django_capture_on_commit_callbacks):
    _agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                       django_capture_on_commit_callbacks)
    webhook_id = DatasetRelease.objects.get().webhook_id
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = MigrationExecutor(connection).loader.project_state(
            [*BEFORE, ("core", "0004_outbox_prepared_channel_and_log_index")]).apps
        # As the old engine left it: no outbox rows, its own log of two attempts.
        old.get_model("core", "OutboxMessage").objects.all().delete()
        release = old.get_model("trials", "DatasetRelease").objects.get(pk=release_id)
        release.attempts = 2
        release.save(update_fields=["attempts"])
        attempt = old.get_model("trials", "DeliveryAttempt")
        at = release.delivered_at
        attempt.objects.create(release=release, at=at - timedelta(minutes=1),
                               webhook_id=webhook_id, status_code=503, ok=False,
                               error="HTTP 503")
        attempt.objects.create(release=release, at=at, webhook_id=webhook_id,
                               status_code=200, ok=True, response_excerpt="thanks")
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
    finally:
        executor.migrate(latest())
    release = DatasetRelease.objects.select_related("message").get()
    message = release.message
    assert (message.channel, message.event_type, message.message_id, message.status,
            message.attempts) == ("prepared", "dataset.released", webhook_id, "sent", 2)
    assert list(DeliveryLog.objects.filter(message=message).order_by("at").values_list(
        "ok", "status_code", "response_excerpt")) == [(False, 503, ""), (True, 200, "thanks")]
    assert OutboxMessage.objects.filter(channel="prepared").count() == 1
