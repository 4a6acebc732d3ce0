"""Enqueueing Celery work safely.

Follow-up work is always recorded in the database first (a status column or an outbox
row, in the same transaction as the change); the task message is only a nudge sent after
commit. If the broker is down the nudge is dropped and logged, the request still
succeeds, and the periodic sweep re-enqueues what is due (invariant 3).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


def send_now(task, *args, countdown: float | None = None) -> bool:
    """Send ``task(*args)``; False (logged) when the broker cannot take it."""
    try:
        task.apply_async(args=args, retry=False, countdown=countdown)
        return True
    except Exception:  # noqa: BLE001 - any broker failure: the sweep will catch up
        logger.warning("Could not enqueue %s%r; the periodic sweep will retry.", task.name, args,
                       exc_info=True)
        return False


class CoalescedSweep:
    """One delayed sweep message for a burst of changes, instead of one message each.

    ``poke()`` after a commit sends ``task`` with a countdown of ``delay`` seconds, unless
    this process already sent one that will run after now: that sweep will find the new
    work too (the change is committed before the poke, the sweep runs after its
    countdown). So a busy web process publishes at most one message per ``delay`` for
    any number of changes, and each change waits at most ``delay`` for its sweep. A
    failed send is forgotten, so the next poke tries again; the periodic beat sweep
    covers the rest (invariant 3). Tasks run eagerly (no broker) are not coalesced: the
    caller's per-change ``eager`` fallback runs instead.
    """

    # Headroom for the worker's clock and ETA handling: a poke this close to the end of
    # the covered time sends a new message.
    MARGIN = 0.25

    def __init__(self, task, delay: float = 1.0):
        self.task, self.delay = task, delay
        self._covered_until = 0.0
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Treat the next poke as the first (e.g. after switching brokers)."""
        with self._lock:
            self._covered_until = 0.0

    def poke(self) -> bool:
        """True if a message was sent (False: covered by an earlier one, or send failed)."""
        now = time.monotonic()
        with self._lock:
            if now < self._covered_until:
                return False
            self._covered_until = now + self.delay - self.MARGIN
        if send_now(self.task, countdown=self.delay):
            return True
        with self._lock:
            self._covered_until = 0.0
        return False


def is_eager(task) -> bool:
    return bool(task.app.conf.task_always_eager)


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


@shared_task(name="core.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat sweep: forget idempotency keys past their retention."""
    from . import idempotency

    return idempotency.purge_expired()


@shared_task(name="core.purge_delivery_logs")
def purge_delivery_logs() -> int:
    """Beat sweep: delete outbox delivery-log rows past ``OUTBOX_LOG_RETENTION_DAYS``."""
    from . import outbox

    return outbox.purge_delivery_logs()
