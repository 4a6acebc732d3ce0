"""Enqueueing Celery work safely.

Follow-up work is always recorded in the database first (a status column or an outbox
row, in the same transaction as the change); the task message is only a nudge sent after
commit. If the broker is down the nudge is dropped and logged, the request still
succeeds, and the periodic sweep re-enqueues what is due (invariant 3).
"""

from __future__ import annotations

import logging

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
