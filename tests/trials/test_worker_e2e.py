"""End to end with a real Celery worker process on Redis and PostgreSQL (CI): completing a
booking through the API gets its results collected from a local HTTP gateway."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from tests.fixtures.peers import LOOPBACK_PEERS, Reply, results_csv
from tests.fixtures.world import key_client
from trials.models import Measurement, Trial

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.real_broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
]


@pytest.fixture
def worker():
    db = settings.DATABASES["default"]
    env = {**os.environ,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": settings.SECRET_KEY,
           **LOOPBACK_PEERS}
    import redis

    # No stale messages.
    redis.Redis.from_url(settings.REDIS_URL).delete(*settings.CELERY_QUEUE_NAMES)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "testbed", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_complete_through_api_is_collected_by_a_real_worker(checked_in, operator, gateway,
                                                            worker):
    from testbed.celery import app

    app.conf.task_always_eager = False
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=20)))
    client = key_client(operator)
    with time_machine.travel(checked_in.end, tick=True):  # the trial has ended
        r = client.post(f"/api/v1/bookings/{checked_in.pk}/complete/", {}, format="json")
    assert r.status_code == 200, r.content
    deadline = time.monotonic() + 60
    trial = Trial.objects.get(pk=checked_in.pk)
    while trial.status != Trial.Status.COLLECTED and time.monotonic() < deadline:
        assert worker.poll() is None, worker.stdout.read()
        time.sleep(0.5)
        trial.refresh_from_db()
    assert trial.status == Trial.Status.COLLECTED, trial.last_error
    assert trial.attempts == 1
    assert Measurement.objects.filter(trial=trial).count() == 40
    assert trial.summary["vibration_rms"]["count"] == 20
