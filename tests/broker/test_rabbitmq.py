"""RabbitMQ as the broker, against the real server (CELERY_TEST_AMQP_URL; CI sets it):
a worker killed mid-collection has its task redelivered at once to another worker, which
collects the trial exactly once; tasks land on their queues; /readyz reports the broker.
"""

import os

import pytest
from django.conf import settings

from bookings import services as booking_services
from core.tasks import deliver_due_outbox, deliver_outbox_message, send_now
from tests.fixtures.peers import LOOPBACK_PEERS, Reply, results_csv

from .rabbitmq import (
    FIRST_FETCH_HANGS,
    REDELIVERY_BOUND,
    kill_mid_collection,
    publishing_to,
    queue_state,
    start_worker,
    wait_for,
    waiting_task_names,
)

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.real_broker,
    pytest.mark.django_db(transaction=True),
]

ROWS = 30  # readings per metric; the gateway's CSV has two metrics


@pytest.fixture
def sending(rabbitmq):
    """This process publishes to the test's RabbitMQ virtual host, as the web does."""
    with publishing_to(rabbitmq):
        yield rabbitmq


def worker_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {**os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SECRET_KEY": settings.SECRET_KEY, **LOOPBACK_PEERS}


def test_a_worker_killed_mid_collection_is_replaced_at_once_and_collects_once(
        rabbitmq, sending, checked_in, operator, gateway):
    body = results_csv(checked_in.start, rows=ROWS)
    # The first fetch hangs (the first worker is killed during it); the next answers.
    gateway.reply(Reply(body=body, delay=FIRST_FETCH_HANGS), Reply(body=body))

    def complete():
        booking_services.complete_booking(booking_id=checked_in.pk, organization=operator,
                                          now=checked_in.end)

    outcome = kill_mid_collection(broker_url=rabbitmq, env=worker_env(),
                                  trial_id=checked_in.pk, send=complete,
                                  fetches=lambda: len(gateway.requests))

    assert outcome.seconds < REDELIVERY_BOUND, outcome
    assert outcome.exactly_once(rows=2 * ROWS) == [], outcome
    # The second worker's follow-up went to the deliveries queue, not the collection one.
    assert outcome.deliveries_waiting == ["trials.release_due_datasets"], outcome


def test_a_delivery_waits_on_deliveries_and_readyz_counts_it(rabbitmq, sending, client,
                                                              settings):
    assert send_now(deliver_outbox_message, 4242) is True
    assert queue_state(rabbitmq, "deliveries")[0] == 1
    assert queue_state(rabbitmq, "collection")[0] == 0
    assert queue_state(rabbitmq, "default")[0] == 0

    settings.CELERY_BROKER_URL, settings.CELERY_BROKER_IS_AMQP = rabbitmq, True
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the readiness probe of a RabbitMQ deployment
    body = client.get("/readyz").json()
    broker = body["checks"]["broker"]
    assert broker["ok"] is True and broker["mode"] == "rabbitmq"
    assert broker["queues"] == {"default": 0, "collection": 0, "deliveries": 1}
    assert broker["queue_backlog"] == 1

    assert waiting_task_names(rabbitmq, "deliveries") == ["core.deliver_outbox_message"]


def test_a_countdown_waits_in_rabbitmq_not_in_a_worker(rabbitmq, sending):
    """Retry backoff (countdowns up to an hour) must not sit unacknowledged in a worker,
    where RabbitMQ's consumer_timeout would cut the channel: it waits in the broker's
    delay queues (Celery's native delayed delivery) and reaches the worker when due."""
    worker = start_worker("deliveries", {**worker_env(), "CELERY_BROKER_URL": rabbitmq},
                          queues="deliveries")
    try:
        wait_for(lambda: queue_state(rabbitmq, "deliveries")[1] == 1, 60,
                 "worker consuming deliveries", (worker,))
        assert send_now(deliver_due_outbox, countdown=5) is True
        # 5 s = 4 + 1: first the 4-second level of the delay queues, unseen by the worker.
        assert queue_state(rabbitmq, "celery_delayed_2")[0] == 1
        assert queue_state(rabbitmq, "deliveries")[0] == 0
        assert "core.deliver_due_outbox[" not in worker.output()  # not received yet
        wait_for(lambda: "core.deliver_due_outbox SUCCESS" in worker.output(), 30,
                 "the delayed task run", (worker,))
        assert "core.deliver_due_outbox[" in worker.output()  # received, when due
    finally:
        worker.stop()
