"""Idempotency keys for creating POSTs (``Idempotency-Key`` header).

The first successful response is stored with a unique (scope, key) in the same
transaction as the change; a repeat with the same key and body gets that response back
and nothing is created again. The same key with a different body is a 409. Errors are
not stored: nothing was created, so a retry is evaluated afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import Conflict, ValidationFailed
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def _replay(row: IdempotencyKey, print_: str) -> tuple[int, dict, bool]:
    if row.fingerprint != print_:
        raise Conflict("This Idempotency-Key was used with a different request.",
                       code="idempotency_key_reused")
    return row.response_status, row.response_body, True


def run_idempotent(*, scope: str, key: str, print_: str,
                   produce: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """Run ``produce`` once per (scope, key); returns (status, body, replayed)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed.single("idempotency_key", HEADER,
                                      f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
    try:
        with transaction.atomic():
            existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
            if existing is not None:
                return _replay(existing, print_)
            status, body = produce()
            IdempotencyKey.objects.create(scope=scope, key=key, fingerprint=print_,
                                          response_status=status, response_body=body)
            return status, body, False
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is None:
            raise
        return _replay(existing, print_)


def purge_expired(*, now=None) -> int:
    """Delete keys past their retention; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created__lt=cutoff).delete()
    return deleted
