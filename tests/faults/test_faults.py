"""Fault injection against the real PostgreSQL and Redis, through a loopback TCP proxy
that refuses and cuts connections: the web answers 503 problem+json (no stack trace),
nothing is half-written, and after recovery the follow-up work is done exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection

from bookings.models import Booking, BookingEvent
from bookings.tasks import dispatch_pending_events
from core.models import OutboxMessage
from core.tasks import deliver_due_outbox
from tests.fixtures.peers import LOOPBACK_PEERS, Reply, results_csv
from tests.fixtures.world import booking_body, key_client, local, make_equipment
from tests.operations.conftest import member
from trials.models import Measurement, Trial
from trials.tasks import collect_due_trials

from .proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def db_through_proxy():
    """This process's database connection goes through a proxy the test controls."""
    settings_dict = connection.settings_dict
    proxy = TcpProxy(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(proxy.port)
    yield proxy
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = saved
    proxy.refuse()


@pytest.mark.postgres
def test_database_refusing_is_503_then_recovers_once(equipment, sme, db_through_proxy):
    client = key_client(sme)
    body = booking_body(equipment, local(2, 9), local(2, 11))
    assert client.get("/api/v1/bookings/").status_code == 200  # connected through the proxy
    db_through_proxy.refuse()
    r = client.post("/api/v1/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert r.status_code == 503
    assert r["Content-Type"] == "application/problem+json"
    assert r["Retry-After"]
    assert r.json()["code"] == "unavailable" and "Traceback" not in r.content.decode()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
    db_through_proxy.accept()
    connection.close()  # the pooled connection died with the outage
    first = client.post("/api/v1/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    again = client.post("/api/v1/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Booking.objects.count() == 1


@pytest.mark.redis
@pytest.mark.real_broker
def test_redis_down_during_booking_traffic_nothing_lost(hub, category, sme, operator, broker_at,
                                                         django_capture_on_commit_callbacks):
    """Broker and cache (Redis) are cut while SMEs book and the operator approves: every
    request still succeeds; once Redis is back, the sweeps send each notification once."""
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache


    lead = member(sme, "lead@sme.example", "admin")
    member(operator, "ops@op.example", "operator")
    eq = make_equipment(hub, category, "approval", approval_required=True)
    host, port = settings.REDIS_URL.split("//")[1].split("/")[0].split(":")
    proxy = TcpProxy(host, int(port))
    url = f"redis://127.0.0.1:{proxy.port}/{settings.REDIS_URL.rsplit('/', 1)[1]}"
    broker_at(url)
    saved_cache = cache._cache if isinstance(cache, RedisCache) else None
    if saved_cache is not None:
        cache._cache = type(cache._cache)([url], **cache._options)  # throttling via the proxy
    try:
        proxy.refuse()
        sme_client, op_client = key_client(sme), key_client(operator)
        ids = []
        for day in (2, 3, 4):
            r = sme_client.post("/api/v1/bookings/", booking_body(eq, local(day, 9),
                                                                  local(day, 10)),
                                format="json")
            assert r.status_code == 201, r.content
            ids.append(r.json()["id"])
        assert op_client.post(f"/api/v1/bookings/{ids[0]}/approve/", {},
                              format="json").status_code == 200
        Booking.objects.filter(pk=ids[1]).update(requested_by=lead)
        assert sme_client.post(f"/api/v1/bookings/{ids[1]}/cancel/", {},
                               format="json").status_code == 200
        assert BookingEvent.objects.filter(notified_at__isnull=True).count() == 5
        assert not OutboxMessage.objects.exists() and mail.outbox == []
    finally:
        proxy.accept()
        if saved_cache is not None:
            cache._cache = saved_cache
    from testbed.celery import app

    app.conf.task_always_eager = True  # the worker's part, run here
    with time_machine.travel(local(0, 0) + timedelta(days=1), tick=True):
        for _ in range(2):
            dispatch_pending_events()
            deliver_due_outbox()
    assert BookingEvent.objects.filter(notified_at__isnull=True).count() == 0
    keys = sorted((m.to[0], m.extra_headers["X-Testbed-Event"]) for m in mail.outbox)
    assert keys == sorted([
        ("ops@op.example", "booking.requested"), ("ops@op.example", "booking.requested"),
        ("ops@op.example", "booking.requested"), ("ops@op.example", "booking.cancelled"),
        ("lead@sme.example", "booking.cancelled"), ("lead@sme.example", "booking.requested"),
        ("lead@sme.example", "booking.requested"), ("lead@sme.example", "booking.requested"),
        ("lead@sme.example", "booking.confirmed")])
    proxy.refuse()


def _worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "testbed", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.real_broker
def test_worker_killed_mid_collection_is_finished_once(checked_in, operator, gateway):
    import redis

    from bookings import services as booking_services
    from testbed.celery import app

    db = settings.DATABASES["default"]
    env = {**os.environ,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": settings.SECRET_KEY,
           **LOOPBACK_PEERS}
    redis.Redis.from_url(settings.REDIS_URL).delete(*settings.CELERY_QUEUE_NAMES)
    app.conf.task_always_eager = False
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=30), delay=20))
    first = _worker(env)
    try:
        booking_services.complete_booking(booking_id=checked_in.pk, organization=operator,
                                          now=checked_in.end)
        deadline = time.monotonic() + 60
        while (not gateway.requests or Trial.objects.get(pk=checked_in.pk).status
               != Trial.Status.COLLECTING) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gateway.requests, "the worker never asked the gateway"
        os.killpg(first.pid, signal.SIGKILL)  # mid-fetch: nothing was loaded
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert Trial.objects.get(pk=checked_in.pk).status == Trial.Status.COLLECTING
    assert Measurement.objects.filter(trial_id=checked_in.pk).count() == 0
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=30)))
    # The lost message is gone.
    redis.Redis.from_url(settings.REDIS_URL).delete(*settings.CELERY_QUEUE_NAMES)
    second = _worker(env)
    try:
        with time_machine.travel(timedelta(minutes=20)):  # past the 'collecting' lease
            assert collect_due_trials() == 1
        deadline = time.monotonic() + 60
        trial = Trial.objects.get(pk=checked_in.pk)
        while trial.status != Trial.Status.COLLECTED and time.monotonic() < deadline:
            time.sleep(0.3)
            trial.refresh_from_db()
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(20)
    assert trial.status == Trial.Status.COLLECTED
    assert Measurement.objects.filter(trial=trial).count() == 60
    assert trial.attempts == 2
