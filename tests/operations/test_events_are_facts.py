"""Issue 12, part 6: events are facts, delivered in order.

With the worker behind, a ``booking.requested`` webhook used to carry the booking's status
at the time the outbox sent it (5 of 13 said confirmed or cancelled), and a first
delivery that failed let later events of the same booking overtake it. A consumer
applying events in order ended in the wrong state."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from bookings.models import BookingEvent
from bookings.notifications import dispatch_event
from bookings.tasks import dispatch_new_events
from core import outbox
from core.models import OutboxMessage
from core.tasks import deliver_due_outbox
from tests.factories import WebhookEndpointFactory
from tests.fixtures.world import booking_body, local, make_equipment

from .conftest import member

pytestmark = [pytest.mark.django_db, pytest.mark.real_broker]
URL = "/api/v1/bookings/"


@pytest.fixture
def approval_equipment(hub, category):
    return make_equipment(hub, category, "needs-ok", approval_required=True)


@pytest.fixture
def people(sme, operator):
    return {"lead": member(sme, "lead@sme.example", "admin"),
            "ops": member(operator, "ops@op.example", "operator")}


@pytest.fixture
def endpoint(operator, receiver):
    return WebhookEndpointFactory(organization=operator, url=receiver.url,
                                          event_types=["booking.*"])


def request_approve_cancel(approval_equipment, sme_client, operator_client,
                           django_capture_on_commit_callbacks) -> int:
    """Through the API, while the worker is behind: the changes commit and publish their
    nudges to a broker no worker reads (nothing is fanned out or sent yet)."""
    with django_capture_on_commit_callbacks(execute=True):
        r = sme_client.post(URL, booking_body(approval_equipment, local(2, 9), local(2, 11)),
                            format="json")
    assert r.status_code == 201 and r.json()["status"] == "requested"
    booking_id = r.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        r = operator_client.post(f"{URL}{booking_id}/approve/", {"reason": "slot is free"},
                                 format="json")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    with django_capture_on_commit_callbacks(execute=True):
        r = sme_client.post(f"{URL}{booking_id}/cancel/", {"reason": "plan changed"},
                            format="json")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert OutboxMessage.objects.count() == 0 and mail.outbox == []
    return booking_id


def accepted(receiver, endpoint) -> list[dict]:
    """Payloads the receiver got, signature-checked, in arrival order."""
    verify = Webhook(endpoint.secret).verify
    return [verify(m["body"], m["headers"]) for m in receiver.received]


def expected_facts(booking_id: int, sme, operator) -> list[dict]:
    events = list(BookingEvent.objects.filter(booking_id=booking_id).order_by("pk"))
    assert [e.code for e in events] == ["booking.requested", "booking.confirmed",
                                        "booking.cancelled"]
    actors = [sme.slug, operator.slug, sme.slug]
    return [{"event_id": e.pk, "event": e.code, "from_status": e.from_status,
             "to_status": e.to_status, "status": e.to_status, "reason": e.reason,
             "at": e.at.astimezone(UTC).isoformat(),
             "actor": {"user": None, "organization": actor}}
            for e, actor in zip(events, actors, strict=True)]


def test_each_webhook_and_email_describes_its_own_event_not_the_final_state(
        approval_equipment, sme, operator, people, endpoint, receiver, sme_client,
        operator_client, broker_at, django_capture_on_commit_callbacks):
    """The issue's failure: requested, approved, cancelled, and only then the worker
    catches up (fan-out, then delivery). Each webhook says its own change."""
    behind = broker_at("memory://")
    booking_id = request_approve_cancel(approval_equipment, sme_client, operator_client,
                                        django_capture_on_commit_callbacks)
    behind.restore()  # the worker catches up
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_new_events() == 3

    payloads = accepted(receiver, endpoint)
    assert [p["type"] for p in payloads] == ["booking.requested", "booking.confirmed",
                                             "booking.cancelled"]
    for payload, facts in zip(payloads, expected_facts(booking_id, sme, operator),
                              strict=True):
        data = payload["data"]
        assert {k: data[k] for k in facts} == facts
        assert data["booking"] == booking_id and data["organization"] == sme.slug
    assert [(p["data"]["from_status"], p["data"]["to_status"]) for p in payloads] == [
        ("", "requested"), ("requested", "confirmed"), ("confirmed", "cancelled")]

    # The e-mails too: the request's e-mail to the operator says "Requested".
    (requested_to_ops,) = [m for m in mail.outbox if m.to == ["ops@op.example"]
                           and m.extra_headers["X-Testbed-Event"] == "booking.requested"]
    assert "Status: Requested" in requested_to_ops.body
    assert "Cancelled" not in requested_to_ops.body and "Confirmed" not in requested_to_ops.body
    (cancelled_to_lead,) = [m for m in mail.outbox if m.to == ["lead@sme.example"]
                            and m.extra_headers["X-Testbed-Event"] == "booking.cancelled"]
    assert "Status: Cancelled" in cancelled_to_lead.body
    assert "Previous status: Confirmed" in cancelled_to_lead.body
    assert f"By: {sme.name}" in cancelled_to_lead.body
    assert "Reason: plan changed" in cancelled_to_lead.body


def test_a_failed_first_delivery_holds_back_the_later_events_of_the_booking(
        approval_equipment, sme, operator, people, endpoint, receiver, sme_client,
        operator_client, broker_at, django_capture_on_commit_callbacks):
    """Worker behind, then the first delivery of the first event fails at the receiver:
    the later events wait for it, and the receiver applies requested, confirmed,
    cancelled in that order."""
    receiver.statuses = [500, 200]
    behind = broker_at("memory://")
    booking_id = request_approve_cancel(approval_equipment, sme_client, operator_client,
                                        django_capture_on_commit_callbacks)
    behind.restore()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_new_events()
    # Only the failed attempt reached the receiver; the other two wait for it.
    assert len(receiver.received) == 1
    hooks = list(OutboxMessage.objects.filter(channel="webhook").order_by("sequence"))
    assert [(m.event_type, m.status, m.attempts) for m in hooks] == [
        ("booking.requested", "pending", 1), ("booking.confirmed", "pending", 0),
        ("booking.cancelled", "pending", 0)]
    assert list(outbox.due_messages(now=timezone.now() + timedelta(hours=1)).filter(
        channel="webhook")) == [hooks[0]]
    assert outbox.deliver(message_id=hooks[1].pk) == "waiting"

    # The retry after the backoff goes, and pulls the next ones after it.
    with (time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        assert deliver_due_outbox() == 1  # the others wait for it

    payloads = accepted(receiver, endpoint)
    assert [p["type"] for p in payloads] == ["booking.requested", "booking.requested",
                                             "booking.confirmed", "booking.cancelled"]
    applied = payloads[1:]  # the first one was answered 500
    assert [(p["data"]["from_status"], p["data"]["to_status"]) for p in applied] == [
        ("", "requested"), ("requested", "confirmed"), ("confirmed", "cancelled")]
    for payload, facts in zip(applied, expected_facts(booking_id, sme, operator), strict=True):
        assert {k: payload["data"][k] for k in facts} == facts
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_a_message_given_up_does_not_block_the_next_forever(
        approval_equipment, sme, operator, people, endpoint, receiver, sme_client,
        operator_client, broker_at, django_capture_on_commit_callbacks):
    receiver.statuses = [500]  # the receiver is broken for a while
    behind = broker_at("memory://")
    request_approve_cancel(approval_equipment, sme_client, operator_client,
                           django_capture_on_commit_callbacks)
    behind.restore()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_new_events()
    first = OutboxMessage.objects.filter(channel="webhook").order_by("sequence").first()
    assert first.event_type == "booking.requested" and first.attempts == 1
    now = timezone.now()
    for _ in range(outbox.MAX_ATTEMPTS - 2):  # every retry, after its backoff
        now += timedelta(hours=2)
        assert [m.pk for m in outbox.due_messages(now=now).filter(channel="webhook")] == [
            first.pk]
        assert outbox.deliver(message_id=first.pk, now=now) == "pending"
    assert len(receiver.received) == outbox.MAX_ATTEMPTS - 1
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.deliver(message_id=first.pk, now=now + timedelta(hours=2)) == "failed"
        receiver.statuses = [200]  # fixed just after the last attempt failed
    # The first was given up; the next ones went at once, in order.
    types = [p["type"] for p in accepted(receiver, endpoint)[outbox.MAX_ATTEMPTS:]]
    assert types == ["booking.confirmed", "booking.cancelled"]


def test_a_late_fan_out_brings_the_earlier_events_first(
        approval_equipment, sme, operator, people, endpoint, receiver, sme_client,
        operator_client, broker_at, django_capture_on_commit_callbacks):
    """The nudge of the first event was lost and the last event's came first: the fan-out
    of the last event queues the earlier ones before it, so nothing overtakes them."""
    behind = broker_at("memory://")
    booking_id = request_approve_cancel(approval_equipment, sme_client, operator_client,
                                        django_capture_on_commit_callbacks)
    behind.restore()
    last = BookingEvent.objects.filter(booking_id=booking_id).order_by("pk").last()
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_event(event_id=last.pk) is True
    assert not BookingEvent.objects.filter(notified_at__isnull=True).exists()
    assert [p["type"] for p in accepted(receiver, endpoint)] == [
        "booking.requested", "booking.confirmed", "booking.cancelled"]
    assert dispatch_event(event_id=last.pk) is False


def test_emails_to_one_person_wait_for_that_persons_earlier_ones(
        approval_equipment, sme, operator, people, sme_client, operator_client, broker_at,
        django_capture_on_commit_callbacks):
    """Ordering is per booking and destination: the SME lead's e-mails wait for the lead's
    earlier ones, not for the operator's."""
    behind = broker_at("memory://")
    request_approve_cancel(approval_equipment, sme_client, operator_client,
                           django_capture_on_commit_callbacks)
    behind.restore()
    dispatch_new_events()  # fanned out; the deliveries' nudges are not run
    lead = list(OutboxMessage.objects.filter(recipient="lead@sme.example")
                .order_by("sequence"))
    ops = list(OutboxMessage.objects.filter(recipient="ops@op.example").order_by("sequence"))
    assert [m.event_type for m in lead] == ["booking.requested", "booking.confirmed",
                                            "booking.cancelled"]
    assert [m.event_type for m in ops] == ["booking.requested", "booking.cancelled"]
    assert sorted(m.pk for m in outbox.due_messages()) == sorted([lead[0].pk, ops[0].pk])
    assert outbox.deliver(message_id=lead[1].pk) == "waiting"
    assert outbox.deliver(message_id=ops[1].pk) == "waiting"
    assert outbox.deliver(message_id=ops[0].pk) == "sent"
    assert outbox.deliver(message_id=ops[1].pk) == "sent"  # the operator's own order
    assert outbox.deliver(message_id=lead[2].pk) == "waiting"  # still behind lead[0]
    for message in lead:
        assert outbox.deliver(message_id=message.pk) == "sent"
    assert [m.extra_headers["X-Testbed-Event"] for m in mail.outbox if m.to == [
        "lead@sme.example"]] == ["booking.requested", "booking.confirmed", "booking.cancelled"]
