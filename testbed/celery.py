"""The Celery application and its queues. Apps define tasks with ``celery.shared_task``;
settings.py (CELERY_*) chooses the broker and routes each task to a queue by name."""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testbed.settings")

# `collection` (trial results), `deliveries` (outbox e-mails and webhooks, dataset
# releases), `default` (everything else): a worker (or several) per queue in production.
QUEUE_NAMES = ("default", "collection", "deliveries")
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


def is_amqp(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0] in AMQP_SCHEMES


def task_queues(broker_url: str, *, delivery_limit: int) -> tuple[Queue, ...]:
    """Our queues as declared on this broker.

    RabbitMQ: quorum queues (RabbitMQ >= 3.8; durable, and they count deliveries: a
    message given back ``delivery_limit`` times, as by a task that kills every worker that
    runs it, is dropped and the database sweeps take over), bound to topic exchanges so
    that countdowns (retry backoff, up to an hour) wait in the broker (Celery's native
    delayed delivery for quorum queues) rather than unacknowledged in a worker, where
    RabbitMQ's consumer_timeout (30 minutes by default) would close the channel and
    redeliver everything on it. Redis: plain queues on direct exchanges, which Celery
    sends to by queue name (no binding to lose)."""
    if is_amqp(broker_url):
        return tuple(Queue(name, Exchange(name, type="topic"), routing_key=name,
                           queue_arguments={"x-queue-type": "quorum",
                                            "x-delivery-limit": delivery_limit})
                     for name in QUEUE_NAMES)
    return tuple(Queue(name, Exchange(name), routing_key=name) for name in QUEUE_NAMES)


app = Celery("testbed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
