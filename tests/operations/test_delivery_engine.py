"""One delivery engine (issue 13, part 1): invitations go through the outbox in the
invitation's transaction; the webhook API knows event types from core's registry, not a
copy; dataset releases are outbox messages; idempotency keys and delivery logs are purged
on a schedule; one ``backoff``."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core import events, outbox
from core.models import DeliveryLog, IdempotencyKey, OutboxMessage
from core.tasks import deliver_due_outbox
from organizations.models import Invitation, Membership
from tests.factories import UserFactory
from tests.fixtures.world import key_client

pytestmark = pytest.mark.django_db
APPS = ("core", "organizations", "equipment", "bookings", "trials", "testbed")


class RefusingSMTP(BaseEmailBackend):
    """An SMTP server that refuses every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_an_smtp_failure_on_invitation_is_retried_by_the_outbox_not_a_500(
        sme, settings, django_capture_on_commit_callbacks):
    admin = UserFactory(email="admin@precision.test")
    Membership.objects.create(user=admin, organization=sme, role=Membership.Role.ADMIN)
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    settings.EMAIL_BACKEND = f"{__name__}.RefusingSMTP"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("organizations:invite"),
                               {"email": "new@precision.test", "role": "member"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    message = OutboxMessage.objects.get(event_type="organization.invitation")
    assert (message.status, message.attempts, message.recipient) == (
        "pending", 1, "new@precision.test")
    assert message.last_error.startswith("SMTPServerDisconnected")

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        assert deliver_due_outbox() == 1
    message.refresh_from_db()
    assert message.status == "sent"
    (sent,) = mail.outbox
    assert sent.to == ["new@precision.test"] and invitation.token in sent.body
    assert DeliveryLog.objects.filter(message=message).count() == 2


def test_inviting_again_sends_the_renewed_invitation_again(
        sme, django_capture_on_commit_callbacks):
    admin = UserFactory(email="admin@precision.test")
    Membership.objects.create(user=admin, organization=sme, role=Membership.Role.ADMIN)
    client = Client()
    client.force_login(admin)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(reverse("organizations:invite"), {
                "email": "new@precision.test", "role": "member"}).status_code == 302
    assert Invitation.objects.count() == 1
    assert len(mail.outbox) == 2


def test_the_webhook_api_lists_and_validates_registered_event_types(operator, monkeypatch):
    client = key_client(operator)
    listed = client.get("/api/v1/webhooks/event-types/")
    assert listed.status_code == 200
    names = [t["name"] for t in listed.json()]
    assert {"booking.requested", "booking.reminder", "trial.collected",
            "dataset.released"} <= set(names)
    assert all(t["description"] for t in listed.json())

    body = {"url": "https://hooks.example.test/in", "event_types": ["maintenance.*"]}
    refused = client.post("/api/v1/webhooks/", body, format="json")
    assert refused.status_code == 400
    assert "maintenance.*" in refused.json()["errors"]["event_types"][0]

    # An app that registers a new type makes it subscribable, with no change to the API.
    monkeypatch.setattr(events, "_registry", dict(events._registry))
    events.register("maintenance.scheduled", "A maintenance window was scheduled.")
    assert client.post("/api/v1/webhooks/", body, format="json").status_code == 201
    assert "maintenance.scheduled" in [
        t["name"] for t in client.get("/api/v1/webhooks/event-types/").json()]


def test_idempotency_keys_and_delivery_logs_are_purged_on_a_schedule(settings):
    now = timezone.now()
    old_key = IdempotencyKey.objects.create(scope="org:1", key="old", fingerprint="x",
                                            response_status=201, response_body={})
    IdempotencyKey.objects.filter(pk=old_key.pk).update(created=now - timedelta(days=2))
    new_key = IdempotencyKey.objects.create(scope="org:1", key="new", fingerprint="x",
                                            response_status=201, response_body={})
    message = outbox.queue_email(event_type="test.purge", dedupe_key="purge", to="a@b.test",
                                 subject="s", body="b")
    old_log = DeliveryLog.objects.create(
        message=message, at=now - timedelta(days=settings.OUTBOX_LOG_RETENTION_DAYS + 1))
    new_log = DeliveryLog.objects.create(message=message, at=now - timedelta(days=1))

    call_command("purge_records", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [new_key.pk]
    assert list(DeliveryLog.objects.filter(message=message).values_list("pk", flat=True)
                ) == [new_log.pk]
    assert not DeliveryLog.objects.filter(pk=old_log.pk).exists()
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"core.purge_idempotency_keys", "core.purge_delivery_logs"} <= scheduled


def test_backoff_is_defined_once_and_delivery_has_one_log():
    root = Path(django_settings.BASE_DIR)
    definitions = [str(path.relative_to(root)) for app in APPS
                   for path in (root / app).rglob("*.py") if "migrations" not in path.parts
                   and re.search(r"^def \w*backoff\b", path.read_text(), re.MULTILINE)]
    assert definitions == ["core/outbox.py"]
    from trials import models as trial_models

    assert not hasattr(trial_models, "DeliveryAttempt")
