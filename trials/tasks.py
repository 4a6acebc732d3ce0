"""Celery tasks for trials: thin, idempotent, retried with exponential backoff."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from core import outbox
from core.tasks import deliver_outbox_message, send_now

from . import selectors, services, sharing
from .sources import TransientSourceError

logger = logging.getLogger(__name__)


def max_attempts() -> int:
    return settings.TRIAL_COLLECT_MAX_ATTEMPTS


def retry_countdown(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: 10, 20, 40 … capped at 10 minutes."""
    return int(outbox.backoff(retries + 1, first=timedelta(seconds=10),
                              cap=timedelta(minutes=10)).total_seconds())


@shared_task(bind=True, acks_late=True, max_retries=None, name="trials.collect_trial_results")
def collect_trial_results(self, trial_id: int) -> str:
    try:
        outcome = services.collect_trial_results(trial_id=trial_id)
    except TransientSourceError as exc:
        final = self.request.retries + 1 >= max_attempts()
        services.record_failure(trial_id=trial_id, error=str(exc), final=final)
        if final:
            logger.warning("Trial %s: giving up after %s attempts: %s", trial_id,
                           self.request.retries + 1, exc)
            return "failed"
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    logger.info("Trial %s: %s (%s measurements)", trial_id, outcome.status,
                outcome.measurements)
    if outcome.status == "collected" and outcome.measurements:
        send_now(release_due_datasets, trial_id)  # releases with no embargo go out now
    return outcome.status


@shared_task(name="trials.collect_due_trials")
def collect_due_trials() -> int:
    """Beat sweep: enqueue every completed trial whose results are still to be collected
    (e.g. the broker was down when the booking completed, or a worker died)."""
    due = list(selectors.trials_due_for_collection().values_list("pk", flat=True))
    for trial_id in due:
        send_now(collect_trial_results, trial_id)
    return len(due)


@shared_task(name="trials.release_due_datasets")
def release_due_datasets(trial_id: int | None = None) -> int:
    """Beat sweep: open releases that became due (consent given, embargo over) and
    enqueue delivery (through the outbox) of every release whose next attempt is due."""
    due = sharing.schedule_due_releases(trial_id=trial_id)
    for message_id in due:
        send_now(deliver_outbox_message, message_id)
    return len(due)


@shared_task(name="trials.purge_observations")
def purge_observations() -> int:
    """Beat sweep: raw observations past ``OBSERVATION_RETENTION_DAYS``."""
    from .collector import store

    return store.purge_observations()
