"""Liveness and readiness probes."""

from __future__ import annotations

from contextlib import suppress

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
    """The configured broker (RabbitMQ or Redis: CELERY_BROKER_URL, else REDIS_URL) answers;
    with the messages waiting in each of our queues."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager (tasks run in-process)"}
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    mode = "rabbitmq" if settings.CELERY_BROKER_IS_AMQP else url.split("://", 1)[0]
    try:
        with Connection(url, connect_timeout=1, transport_options={
                "socket_connect_timeout": 1, "socket_timeout": 1}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            queues = {name: _waiting(conn, name) for name in settings.CELERY_QUEUE_NAMES}
        return {"ok": True, "mode": mode,
                "queue_backlog": sum(queues.values()),
                "queues": queues}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "mode": mode, "error": exc.__class__.__name__}


def _waiting(conn, queue: str) -> int:
    """Messages ready in ``queue``, by a passive declaration (it creates nothing); 0 for a
    queue the broker does not know (no worker declared it yet; Redis drops empty ones)."""
    channel = conn.channel()
    try:
        return channel.queue_declare(queue, passive=True).message_count
    except conn.channel_errors:
        return 0
    finally:
        # RabbitMQ closes the channel itself after NOT_FOUND.
        with suppress(*conn.channel_errors, *conn.connection_errors):
            channel.close()


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
