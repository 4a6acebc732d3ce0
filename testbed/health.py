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


def _check_collector() -> dict:
    """The collectors (manage.py run_collector) by their heartbeats, and how many pieces of
    equipment need one now. Informational: the web serves without a collector, so this
    check never makes the web unready; "needed" with no live collector is the alarm."""
    from django.utils import timezone

    from trials.collector.runtime import stale_before
    from trials.collector.selectors import equipment_to_collect
    from trials.models import CollectorHeartbeat

    try:
        now = timezone.now()
        live = CollectorHeartbeat.objects.filter(beat__gte=stale_before(now),
                                                 stopped__isnull=True)
        collectors = [{"name": c.name, "beat_seconds_ago": round((now - c.beat).total_seconds(), 1),
                       "holding": len(c.holding), "written": c.written} for c in live]
        needed = len(equipment_to_collect(now))
        status = "running" if collectors else ("missing" if needed else "idle")
        return {"ok": True, "status": status, "collectors": collectors, "needed": needed}
    except Exception as exc:  # noqa: BLE001
        return {"ok": True, "status": "unknown", "error": exc.__class__.__name__}


# Checks that make the web unready when they fail; the others are shown only.
GATING = ("database", "broker", "outbox")


def readyz(request):
    checks = {"database": _check_database(), "broker": _check_broker(),
              "outbox": _check_outbox(), "collector": _check_collector()}
    ready = all(checks[name]["ok"] for name in GATING)
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
