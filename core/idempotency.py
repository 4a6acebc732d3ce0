"""Idempotency keys for creating POSTs (``Idempotency-Key`` header).

The key is claimed first (a unique (scope, key) row) and the first successful response
is stored in it, in the same transaction as the change; a repeat with the same key and
body gets that response back and nothing is created again — also when the repeat arrives
while the first is still running (it waits for it). The same key with a different body is
a 409. Errors are not stored: nothing was created, so a retry is evaluated afresh.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from . import db
from .db import busy_on_lock_timeout, lock_timeout_clause, lock_timeout_param
from .errors import IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_REUSED
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
BUSY_MESSAGE = gettext_noop("A request with this Idempotency-Key is still running; "
                            "retry shortly.")


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def _replay(row: IdempotencyKey, print_: str) -> tuple[int, dict, bool]:
    if row.fingerprint != print_:
        raise IDEMPOTENCY_KEY_REUSED.error()
    return row.response_status, row.response_body, True


# INSERT … SELECT … WHERE: on PostgreSQL the WHERE bounds the wait for a concurrent
# request's row (core.db.lock_timeout_clause) with no statement of its own.
@cache
def _claim_sql(vendor: str) -> str:
    """The claim, its table and column names from ``IdempotencyKey``'s metadata."""
    col = functools.partial(db.column, IdempotencyKey)
    return (f"INSERT INTO {db.table(IdempotencyKey)} ({col('scope')}, {col('key')}, "  # noqa: S608 - model metadata and constants only
            f"{col('fingerprint')}, {col('response_status')}, {col('response_body')}, "
            f"{col('created')}) SELECT %s, %s, %s, 0, '{{}}', %s "
            f"WHERE {db.lock_timeout_clause(vendor) or '1 = 1'} "
            f"ON CONFLICT ({col('scope')}, {col('key')}) DO NOTHING "
            f"RETURNING {col('id')}")


def _claim(scope: str, key: str, print_: str) -> int | None:
    """Insert the key first. The unique index makes a concurrent request with the same key
    wait here until the first one commits (then it replays its response) or rolls back
    (then it goes ahead itself), for at most the lock timeout (then 503 busy, retry).
    Returns the new row's id, or None if the key is taken."""
    created = connection.ops.adapt_datetimefield_value(timezone.now())
    bounded = lock_timeout_clause(connection.vendor)
    params = [scope, key, print_, created] + ([lock_timeout_param()] if bounded else [])
    with busy_on_lock_timeout(gettext(BUSY_MESSAGE)), connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor), params)
        row = cursor.fetchone()
    return row[0] if row else None


def run_idempotent(*, scope: str, key: str, print_: str,
                   produce: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """Run ``produce`` once per (scope, key); returns (status, body, replayed)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise IDEMPOTENCY_KEY_INVALID.error(max=MAX_KEY_LENGTH)
    with transaction.atomic():
        claimed = _claim(scope, key, print_)
        if claimed is None:
            return _replay(IdempotencyKey.objects.get(scope=scope, key=key), print_)
        status, body = produce()
        IdempotencyKey.objects.filter(pk=claimed).update(response_status=status,
                                                         response_body=body)
        return status, body, False


def purge_expired(*, now=None) -> int:
    """Delete keys past their retention; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created__lt=cutoff).delete()
    return deleted
