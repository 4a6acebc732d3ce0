"""Liveness and readiness probes."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": exc.__class__.__name__}


def _check_broker() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "mode": "eager (tasks run in-process)"}
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1,
                                      socket_timeout=1)
        client.ping()
        backlog = client.llen("celery")
        return {"ok": True, "mode": "redis", "queue_backlog": backlog}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "mode": "redis", "error": exc.__class__.__name__}


def _check_outbox() -> dict:
    """Notifications waiting to go out; the oldest one's age shows a stuck pipeline."""
    from django.db.models import Min
    from django.utils import timezone

    from core.models import OutboxMessage

    try:
        pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
        oldest = pending.aggregate(oldest=Min("created"))["oldest"]
        return {"ok": True, "pending": pending.count(),
                "failed": OutboxMessage.objects.filter(
                    status=OutboxMessage.Status.FAILED).count(),
                "oldest_pending_seconds": int((timezone.now() - oldest).total_seconds())
                if oldest else 0}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": exc.__class__.__name__}


def readyz(request):
    checks = {"database": _check_database(), "broker": _check_broker(),
              "outbox": _check_outbox()}
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
