"""Retrying a failed delivery, or sending a stuck message now, from the staff queue: the
outbox's retry (a dataset release's message included, whose eligibility is checked again)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from core.models import OutboxMessage
from tests.fixtures.world import key_client
from tests.staff.conftest import outbox_message
from tests.trials.test_release_failures import failing_release, run_until_failed
from tests.trials.test_sharing import collected, university

pytestmark = pytest.mark.django_db
M = OutboxMessage.Status
__all__ = ["collected", "university"]  # fixtures shared with tests/trials


def retry_url(message) -> str:
    return reverse("admin:core_outboxmessage_retry", args=[message.pk])


def test_retrying_a_failed_email_requeues_and_sends_it(
    staff_client, django_capture_on_commit_callbacks
):
    failed = outbox_message(
        status=M.FAILED,
        age=timedelta(hours=3),
        attempts=8,
        last_error="SMTPServerDisconnected: gone",
        to="x@example.test",
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(retry_url(failed), {"next": reverse("admin:index")})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (M.PENDING, 0)  # re-queued, due now
    assert len(callbacks) == 1  # the worker is nudged after commit
    callbacks[0]()
    failed.refresh_from_db()
    assert failed.status == M.SENT
    assert [m.to for m in mail.outbox] == [["x@example.test"]]


def test_a_sent_message_has_nothing_to_retry(staff_client):
    sent = outbox_message(status=M.SENT, age=timedelta(hours=3), attempts=1)
    response = staff_client.post(retry_url(sent), follow=True)
    assert response.status_code == 200
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (M.SENT, 1)


def test_retry_is_a_post(staff_client):
    failed = outbox_message(status=M.FAILED, age=timedelta(hours=3), attempts=8)
    assert staff_client.get(retry_url(failed)).status_code == 405
    failed.refresh_from_db()
    assert failed.status == M.FAILED


def test_a_failed_release_is_in_the_queue_and_its_retry_delivers_it(
    collected,
    operator,
    sme,
    hub,
    receiver,
    staff_client,
    university,
    django_capture_on_commit_callbacks,
):
    release = failing_release(
        collected, operator, sme, hub, receiver, django_capture_on_commit_callbacks
    )
    run_until_failed(release, collected, django_capture_on_commit_callbacks)
    release.refresh_from_db()
    assert release.status == "failed"
    page = staff_client.get(reverse("admin:index"))
    (item,) = {q.key: q for q in page.context["staff_queues"]}["queue-failed-deliveries"].items
    assert "dataset.released" in item.title and "HTTP 500" in item.detail

    receiver.statuses = [200]
    with (
        time_machine.travel(collected.booking.end + timedelta(days=1), tick=True),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = staff_client.post(item.actions[0].url, {"next": reverse("admin:index")})
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.status, release.attempts) == ("delivered", 1)
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 1
