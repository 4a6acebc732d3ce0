"""Which broker, which queue: settings choose the broker from the environment, and every
task is routed by name (settings.CELERY_TASK_ROUTES) to one of the three queues."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

COLLECTION = {"trials.collect_trial_results", "trials.collect_due_trials"}
DELIVERIES = {"core.deliver_outbox_message", "core.deliver_due_outbox",
              "trials.release_due_datasets"}


def project_tasks() -> list[str]:
    from testbed.celery import app

    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_every_task_is_routed_to_its_queue():
    from testbed.celery import app

    names = project_tasks()
    assert set(names) >= COLLECTION | DELIVERIES
    assert "bookings.dispatch_new_events" in names and "billing.issue_due_statements" in names
    for name in names:
        expected = ("collection" if name in COLLECTION
                    else "deliveries" if name in DELIVERIES else "default")
        assert app.amqp.router.route({}, name)["queue"].name == expected, name


def test_each_broker_declares_the_three_queues_its_way():
    from testbed.celery import task_queues

    rabbitmq = task_queues("amqp://guest:guest@127.0.0.1:5672//", delivery_limit=7)
    redis = task_queues("redis://127.0.0.1:6379/0", delivery_limit=7)
    assert [q.name for q in rabbitmq] == [q.name for q in redis] == list(
        settings.CELERY_QUEUE_NAMES)
    for queue in rabbitmq:  # countdowns wait in the broker: topic exchanges, quorum queues
        assert queue.exchange.type == "topic" and queue.routing_key == queue.name
        assert queue.queue_arguments == {"x-queue-type": "quorum", "x-delivery-limit": 7}
    for queue in redis:  # sent to by queue name: no binding to lose
        assert queue.exchange.type == "direct" and not queue.queue_arguments


def test_make_worker_consumes_every_queue():
    makefile = (ROOT / "Makefile").read_text()
    default = re.search(r"^QUEUES \?= (\S+)$", makefile, re.MULTILINE).group(1)
    assert default.split(",") == list(settings.CELERY_QUEUE_NAMES)
    assert "-Q $(QUEUES)" in makefile


PROBE = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'testbed.settings'; "
         "django.setup(); from django.conf import settings as s; "
         "print(s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_TASK_TIME_LIMIT)")
AMQP = "amqp://testbed:pw@127.0.0.1:5672/testbed"
REDIS = "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "memory:// True None"),
    ({"REDIS_URL": REDIS}, f"{REDIS} False None"),
    ({"CELERY_BROKER_URL": AMQP}, f"{AMQP} False 1500"),
    ({"CELERY_BROKER_URL": AMQP, "REDIS_URL": REDIS}, f"{AMQP} False 1500"),  # RabbitMQ wins
    ({"CELERY_BROKER_URL": AMQP, "CELERY_BROKER_CONSUMER_TIMEOUT": "7200"},
     f"{AMQP} False 6900"),
])
def test_the_broker_follows_the_environment(env, expected):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("CELERY_") and k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    clean.update({"DATABASE_URL": "", "REDIS_URL": "", "CELERY_BROKER_URL": "",
                  "SECRET_KEY": "", **env})
    result = subprocess.run([sys.executable, "-c", PROBE], env=clean, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
