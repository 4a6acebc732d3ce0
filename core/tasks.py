"""Enqueueing Celery work safely.

Follow-up work is always recorded in the database first (a status column or an outbox
row, in the same transaction as the change); the task message is only a nudge sent after
commit. If the broker is down the nudge is dropped and logged, the request still
succeeds, and the periodic sweep re-enqueues what is due (invariant 3).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


def send_now(task, *args) -> bool:
    """Send ``task(*args)``; False (logged) when the broker cannot take it."""
    try:
        task.apply_async(args=args, retry=False)
        return True
    except Exception:  # noqa: BLE001 - any broker failure: the sweep will catch up
        logger.warning("Could not enqueue %s%r; the periodic sweep will retry.", task.name, args,
                       exc_info=True)
        return False


def enqueue_on_commit(task, *args) -> None:
    """Send ``task(*args)`` once the current transaction commits (never for a rollback)."""
    transaction.on_commit(lambda: send_now(task, *args))


@shared_task(bind=True, acks_late=True, max_retries=None, name="core.deliver_outbox_message")
def deliver_outbox_message(self, message_id: int) -> str:
    """One delivery attempt; on failure retried with backoff (by the worker, or by the
    sweep in eager mode, where an immediate retry would run inside the caller)."""
    from . import outbox

    status = outbox.deliver(message_id=message_id)
    if status == "pending" and not self.request.is_eager:
        message = outbox.OutboxMessage.objects.get(pk=message_id)
        raise self.retry(countdown=int(outbox.backoff(message.attempts).total_seconds()))
    return status


@shared_task(name="core.deliver_due_outbox")
def deliver_due_outbox() -> int:
    """Beat sweep: send every outbox message that is due (lost nudges, dead workers,
    retries after backoff)."""
    from . import outbox

    due = list(outbox.due_messages().values_list("pk", flat=True)[:1000])
    for message_id in due:
        send_now(deliver_outbox_message, message_id)
    return len(due)
