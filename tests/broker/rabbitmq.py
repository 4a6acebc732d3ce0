"""RabbitMQ for the tests and the benchmark: a virtual host of the run's own on the shared
broker, real Celery worker processes, and the scenario both measure: a worker killed
mid-collection, its task redelivered to another worker (tests/broker/test_rabbitmq.py,
tests/benchmarks/broker.py).

The broker is named by ``CELERY_TEST_AMQP_URL`` (CI: amqp://guest:guest@127.0.0.1:5672//).
The broker may be shared with other work, so a run never touches what it did not make:
with the default virtual host ("/") in the URL, a virtual host ``testbed-<random>`` is
made with ``rabbitmqctl`` (root on the broker's machine, as in CI) and deleted with
everything in it afterwards; a URL naming another virtual host is used as it is (one you
keep for these runs, when rabbitmqctl is out of reach).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
URL_VARIABLE = "CELERY_TEST_AMQP_URL"
# The bound the issue sets: a killed worker's collection is finished elsewhere within it.
REDELIVERY_BOUND = 60.0
# How long the gateway keeps the first worker's fetch waiting (it is killed meanwhile):
# room for the second worker to start on a loaded machine. The workers' source timeout
# is raised above it, so the fetch cannot end on its own.
FIRST_FETCH_HANGS = 90.0


class RabbitMQUnavailable(RuntimeError):
    """The broker named by CELERY_TEST_AMQP_URL cannot be used (said why)."""


def configured_url() -> str:
    return os.environ.get(URL_VARIABLE, "")


def _vhost(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _with_vhost(url: str, vhost: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(vhost, safe="")))


def _rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not Path(ctl).exists():
        raise RabbitMQUnavailable("rabbitmqctl is not installed here: name a virtual host of "
                                  f"your own in {URL_VARIABLE} (amqp://user:pw@host:5672/vhost)")
    result = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RabbitMQUnavailable(f"rabbitmqctl {' '.join(args)} failed: "
                                  f"{(result.stderr or result.stdout).strip()[:500]}")


@contextmanager
def scratch_vhost(url: str) -> Iterator[str]:
    """The broker URL in a virtual host of this run's own, deleted (with its queues)
    afterwards; a URL already naming a virtual host other than "/" is used as it is."""
    if _vhost(url) != "/":
        yield url
        return
    name = f"testbed-{uuid.uuid4().hex[:12]}"
    user = unquote(urlsplit(url).username or "guest")
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield _with_vhost(url, name)
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """This process's Celery app sends tasks to the broker at ``url``, declaring the queues
    as that broker wants them (testbed.celery.task_queues), instead of running them."""
    from django.conf import settings

    from testbed.celery import app, task_queues

    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.task_queues)

    def use(eager: bool, broker_url: str, queues) -> None:
        app.conf.task_always_eager = eager
        app.conf.broker_url, app.conf.task_queues = broker_url, queues
        for cached in ("queues", "default_queue", "router", "send_task_message"):
            app.amqp.__dict__.pop(cached, None)  # rebuilt from the new queues when used
        app._pool = None  # and new connections, to the new broker
        app.amqp._producer_pool = None

    use(False, url, task_queues(url, delivery_limit=settings.CELERY_QUEUE_DELIVERY_LIMIT))
    try:
        yield
    finally:
        use(*saved)


def queue_state(url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of ``queue``; (0, 0) while it does not exist."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            ok = channel.queue_declare(queue, passive=True)
            return ok.message_count, ok.consumer_count
        except conn.channel_errors:
            return 0, 0


def waiting_task_names(url: str, queue: str) -> list[str]:
    """The task names of the messages waiting in ``queue``, taken off it."""
    from kombu import Connection, Queue

    names = []
    with Connection(url, connect_timeout=5) as conn:
        waiting = Queue(queue, no_declare=True)(conn.channel())
        try:
            while (message := waiting.get(no_ack=True)) is not None:
                names.append(message.headers.get("task", ""))
        except conn.channel_errors:
            return names  # no such queue: nothing was ever sent to it
    return names


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes (as the OOM killer or a lost machine
        would): nothing is acknowledged, nothing cleaned up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)


def start_worker(name: str, env: dict[str, str], queues: str = "collection") -> Worker:
    """``celery worker`` in production shape (prefork, one process: the settings' late
    acks, prefetch 1) on ``queues``, in its own process group."""
    log = Path(f"/tmp/testbed-worker-{name}-{uuid.uuid4().hex[:6]}.log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "testbed", "worker", "-Q", queues,
             "--concurrency=1", "-n", f"{name}@%h", "--loglevel=INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Worker(name=name, process=process, log=log)


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             workers: tuple[Worker, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker {worker.name} exited while waiting for {what}:\n"
                                     f"{worker.output()}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.name}\n{w.output()}" for w in workers)
            raise AssertionError(f"no {what} within {timeout:.0f} s\n{logs}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Redelivery:
    """What happened after the worker collecting a trial was killed."""

    seconds: float  # from SIGKILL to the trial collected (inf: not within the bound)
    status: str
    attempts: int  # collection attempts counted on the trial (claims)
    measurements: int  # rows stored for the trial
    measurement_count: int  # the trial's own count
    fetches: int  # requests the gateway answered or was answering
    collection_waiting: int  # messages left on the collection queue afterwards
    deliveries_waiting: list[str]  # task names the collection left on `deliveries`

    def exactly_once(self, rows: int) -> list[str]:
        """What contradicts "collected once, by the second worker" (empty: nothing)."""
        problems = []
        if self.status != "collected":
            problems.append(f"status {self.status}")
        if self.measurements != rows or self.measurement_count != rows:
            problems.append(f"{self.measurements} measurements stored, count "
                            f"{self.measurement_count}, expected {rows}")
        if self.attempts != 2:
            problems.append(f"{self.attempts} collection attempts, expected 2 (killed, redone)")
        if self.fetches != 2:
            problems.append(f"{self.fetches} fetches from the gateway, expected 2")
        if self.collection_waiting:
            problems.append(f"{self.collection_waiting} messages left on the collection queue")
        return problems


def kill_mid_collection(*, broker_url: str, env: dict[str, str], trial_id: int,
                        send: Callable[[], None], fetches: Callable[[], int],
                        bound: float = REDELIVERY_BOUND) -> Redelivery:
    """Two workers on the collection queue; the first takes the trial's collection (the
    gateway answers it slowly), is SIGKILLed mid-fetch, and the second must collect it.

    ``env`` is the workers' environment (database, secrets; the broker is set here),
    ``send`` publishes the collection (with only the first worker consuming, so it is the
    one that gets it), ``fetches`` counts the gateway's requests; the gateway keeps the
    first one waiting FIRST_FETCH_HANGS seconds. No beat runs, so no sweep can rescue the
    trial: only the broker's redelivery can."""
    from trials.models import Measurement, Trial

    env = {**env, "CELERY_BROKER_URL": broker_url,
           "TRIAL_SOURCE_TIMEOUT": str(int(FIRST_FETCH_HANGS) + 30)}
    first = start_worker("first", env)
    second = None
    try:
        wait_for(lambda: queue_state(broker_url, "collection")[1] == 1, 60,
                 "first worker consuming", (first,))
        send()
        wait_for(lambda: fetches() >= 1 and Trial.objects.get(pk=trial_id).status
                 == Trial.Status.COLLECTING, 60, "fetch by the first worker", (first,))
        second = start_worker("second", env)
        wait_for(lambda: queue_state(broker_url, "collection")[1] == 2, 60,
                 "second worker consuming", (first, second))
        if fetches() != 1 or Trial.objects.get(pk=trial_id).status != Trial.Status.COLLECTING:
            raise AssertionError("the first worker finished before it could be killed: "
                                 "the gateway must answer it more slowly")
        killed = time.monotonic()
        first.kill()
        seconds = float("inf")
        while time.monotonic() - killed < bound:
            if Trial.objects.get(pk=trial_id).status == Trial.Status.COLLECTED:
                seconds = time.monotonic() - killed
                break
            time.sleep(0.05)
        time.sleep(1.0)  # room for a duplicate run to show itself
        trial = Trial.objects.get(pk=trial_id)
        return Redelivery(
            seconds=seconds, status=trial.status, attempts=trial.attempts,
            measurements=Measurement.objects.filter(trial_id=trial_id).count(),
            measurement_count=trial.measurement_count, fetches=fetches(),
            collection_waiting=queue_state(broker_url, "collection")[0],
            deliveries_waiting=waiting_task_names(broker_url, "deliveries"))
    finally:
        first.stop()
        if second is not None:
            second.stop()
