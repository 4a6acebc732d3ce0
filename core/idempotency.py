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
import json
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from . import db
from .db import busy_on_lock_timeout, lock_timeout_clause, lock_timeout_param
from .errors import IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_REUSED
from .models import IdempotencyKey
from .parsers import read_body

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


# --- the API door: one decorator for every creating POST --------------------------------

REPLAYED_HEADER = "Idempotent-Replayed"
# Documented on every creating POST of the schema (drf-spectacular).
PARAMETER = OpenApiParameter(
    HEADER, str, OpenApiParameter.HEADER, required=False,
    description="Repeat-safe creation: a retry with the same key and body returns the first "
                f"response (with `{REPLAYED_HEADER}: true`) and creates nothing; the same key "
                "with another body is a 409 `idempotency_key_reused`. Keys are kept 24 hours.")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class _NotStored(Exception):
    """The view answered without creating anything (an error response): roll the key's
    claim back and send that answer, like a raised error."""

    def __init__(self, response):
        super().__init__()
        self.response = response


def _uploaded(value):
    if not isinstance(value, UploadedFile):
        return value
    digest = hashlib.sha256()
    for chunk in value.chunks():
        digest.update(chunk)
    value.seek(0)
    return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}


def request_body(request, *, raw_limit: int | None = None) -> bytes:
    """What a repeat must match, in canonical form: JSON as parsed (key order does not
    matter), forms and multipart uploads as their fields plus each file's name, size and
    sha256 (the multipart boundary does not matter), any other body as its bytes — read
    once, at most ``raw_limit`` bytes, and left for the view to read again."""
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type in FORM_TYPES:
        fields = sorted((name, [_uploaded(v) for v in values])
                        for name, values in request.data.lists())
        return json.dumps(fields, default=str).encode()
    if raw_limit is not None and media_type and not media_type.endswith("json"):
        django_request = request._request
        django_request._body = read_body(request, limit=raw_limit)
        return django_request._body
    return json.dumps(request.data, sort_keys=True, default=str).encode()


def idempotent(view_method=None, *, raw_limit: Callable[[], int] | None = None,
               precheck: Callable | None = None):
    """Decorate a viewset's creating method (``create``, or a POST action: put this above
    ``@action``) so that it honours ``Idempotency-Key`` (in the caller's organisation's key
    space) and documents the header. ``precheck(request)`` runs first (e.g. refuse an
    oversized upload before it is parsed to fingerprint it); ``raw_limit()`` bounds a raw
    (non-JSON, non-form) body read for the fingerprint. Without the header the method runs
    as it is."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None or request.method != "POST":
                return method(self, request, *args, **kwargs)
            if precheck is not None:
                precheck(request)
            body = request_body(request, raw_limit=raw_limit() if raw_limit else None)
            first = {}

            def produce() -> tuple[int, dict]:
                response = method(self, request, *args, **kwargs)
                if not 200 <= response.status_code < 300:
                    raise _NotStored(response)
                first["response"] = response
                return response.status_code, json.loads(JSONRenderer().render(response.data))

            try:
                code, stored, replayed = run_idempotent(
                    scope=_scope(self, request), key=key,
                    print_=fingerprint(request.method, request.path, body), produce=produce)
            except _NotStored as answered:
                return answered.response
            if not replayed:
                return first["response"]
            return Response(stored, status=code, headers={REPLAYED_HEADER: "true"})

        wrapper.idempotent = True
        # Above ``@action`` (whose attributes ``functools.wraps`` carries over), so that the
        # schema extension lands in the action's own kwargs.
        return extend_schema(methods=["POST"], parameters=[PARAMETER])(wrapper)

    return decorate(view_method) if view_method is not None else decorate


def _scope(view, request) -> str:
    organization = getattr(view, "org", None)
    if organization is not None:
        return f"org:{organization.pk}"
    return f"user:{request.user.pk}"


class IdempotentCreate:
    """Viewset mixin: the (``CreateModelMixin``) ``create`` honours ``Idempotency-Key``.
    A viewset with a ``create`` of its own decorates it with :func:`idempotent` instead."""

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)
