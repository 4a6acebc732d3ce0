"""Issue 7: every event produces exactly one e-mail per recipient and one webhook per
subscribed endpoint — also when the sending code runs twice, and when the broker was
down while bookings changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from standardwebhooks import Webhook

from bookings import services
from bookings.models import Booking, BookingEvent
from bookings.notifications import dispatch_event
from bookings.tasks import dispatch_pending_events, expire_requests, mark_no_shows, send_reminders
from core import outbox
from core.models import OutboxMessage
from core.tasks import deliver_due_outbox
from tests.factories import WebhookEndpointFactory
from tests.fixtures.links import SITE, link_in, opens_for
from tests.fixtures.world import local, make_equipment

from .conftest import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(sme, operator):
    return {"lead": member(sme, "lead@sme.example", "admin"),
            "ops": member(operator, "ops@op.example", "operator"),
            "viewer": member(operator, "viewer@op.example", "member")}


@pytest.fixture
def endpoints(operator, other_operator, receiver):
    make = WebhookEndpointFactory
    return {
        "all_bookings": make(organization=operator, url=receiver.url, event_types=["booking.*"]),
        "trials_only": make(organization=operator, url=receiver.url,
                            event_types=["trial.collected"]),
        "inactive": make(organization=operator, url=receiver.url, event_types=["*"], active=False),
        "someone_else": make(organization=other_operator, url=receiver.url,
                             event_types=["*"]),
    }


def sent(event_type: str) -> list[str]:
    return sorted(m.to[0] for m in mail.outbox if m.extra_headers["X-Testbed-Event"] == event_type)


def hooks(receiver, event_type: str) -> list[dict]:
    return [m for m in receiver.received if f'"type":"{event_type}"' in m["body"]]


@pytest.fixture
def approval_equipment(hub, category):
    return make_equipment(hub, category, "needs-ok", approval_required=True)


def test_each_booking_event_once(approval_equipment, sme, operator, people, endpoints, receiver,
                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=approval_equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=people["lead"])
    assert sent("booking.requested") == ["lead@sme.example", "ops@op.example"]
    assert len(hooks(receiver, "booking.requested")) == 1  # only the booking.* endpoint
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_booking(booking_id=booking.pk, organization=operator)
    assert sent("booking.confirmed") == ["lead@sme.example"]
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_booking(booking_id=booking.pk, organization=sme, reason="plan changed")
    assert sent("booking.cancelled") == ["lead@sme.example", "ops@op.example"]
    cancelled = [m for m in mail.outbox
                 if m.extra_headers["X-Testbed-Event"] == "booking.cancelled"]
    assert "plan changed" in cancelled[0].body
    assert "Booking cancelled" in cancelled[0].subject  # English and Chinese, both
    assert "预约已取消" in cancelled[0].subject and "原因: plan changed" in cancelled[0].body

    # Everything runs again: nothing is sent twice.
    for event in BookingEvent.objects.filter(booking=booking):
        assert dispatch_event(event_id=event.pk) is False
    for message in OutboxMessage.objects.all():
        assert outbox.deliver(message_id=message.pk) == "skipped"
    with time_machine.travel(local(0, 0) + timedelta(days=1), tick=True):
        assert dispatch_pending_events() == 0
        assert deliver_due_outbox() == 0
    assert len(mail.outbox) == 5
    assert len(receiver.received) == 3
    types = [m["body"].split('"type":"')[1].split('"')[0] for m in receiver.received]
    assert types == ["booking.requested", "booking.confirmed", "booking.cancelled"]


def test_webhooks_are_signed_and_ids_stable(equipment, sme, people, endpoints, receiver,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.create_booking(equipment_id=equipment.pk, organization=sme, start=local(2, 9),
                                end=local(2, 11), purpose="x", by_user=people["lead"])
    (message,) = receiver.received
    payload = Webhook(endpoints["all_bookings"].secret).verify(message["body"],
                                                               message["headers"])
    assert payload["type"] == "booking.confirmed"
    assert payload["data"]["organization"] == sme.slug
    row = OutboxMessage.objects.get(channel="webhook")
    assert message["headers"]["webhook-id"] == row.message_id


def test_reminders_once(equipment, sme, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=people["lead"])
    with time_machine.travel(booking.start - timedelta(hours=3), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            assert send_reminders() == 1
        with django_capture_on_commit_callbacks(execute=True):
            send_reminders()
    assert sent("booking.reminder") == ["lead@sme.example"]


def test_no_show_frees_the_rest_of_the_slot(equipment, sme, other_sme, people,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 12), purpose="x",
                                          by_user=people["lead"])
    with time_machine.travel(booking.start + timedelta(minutes=10), tick=True):
        assert mark_no_shows() == 0  # still within the grace period
    with time_machine.travel(booking.start + timedelta(minutes=20), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            assert mark_no_shows() == 1
        booking.refresh_from_db()
        assert booking.status == Booking.Status.NO_SHOW
        event = booking.events.last()
        assert event.actor_user is None and "No check-in" in event.reason
        rest = services.create_booking(equipment_id=equipment.pk, organization=other_sme,
                                       start=local(2, 10), end=local(2, 12), purpose="y")
        assert rest.status == Booking.Status.CONFIRMED
        assert mark_no_shows() == 0
    assert sent("booking.no_show") == ["lead@sme.example", "ops@op.example"]


def test_unapproved_requests_expire(approval_equipment, sme, people,
                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=approval_equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=people["lead"])
    with (time_machine.travel(booking.start + timedelta(minutes=1), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        assert expire_requests() == 1
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    # The reason is the cancellation event's; decision_reason is the operator's alone.
    assert booking.events.last().reason == "Not approved before its start."
    # Its e-mail says so, and that no one but the platform did it.
    (email,) = [m for m in mail.outbox if m.extra_headers["X-Testbed-Event"]
                == "booking.cancelled" and m.to == ["lead@sme.example"]]
    assert "Reason: Not approved before its start." in email.body
    assert "By: Testbed (automatic)" in email.body


@pytest.mark.real_broker
def test_broker_down_nothing_lost(approval_equipment, sme, operator, people, endpoints,
                                  receiver, broker_at, django_capture_on_commit_callbacks):
    """The broker refuses connections while bookings change; after it returns, the sweeps
    deliver every notification and webhook, once."""
    down = broker_at("redis://127.0.0.1:1/0")
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=approval_equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=people["lead"])
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_booking(booking_id=booking.pk, organization=operator)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_booking(booking_id=booking.pk, organization=sme)
    assert mail.outbox == [] and receiver.received == []
    assert BookingEvent.objects.filter(notified_at__isnull=True).count() == 3
    down.restore()
    with time_machine.travel(local(0, 0) + timedelta(days=1), tick=True):
        for _ in range(2):  # the sweeps run twice: still once each
            with django_capture_on_commit_callbacks(execute=True):
                dispatch_pending_events()
            deliver_due_outbox()
    assert sent("booking.requested") == ["lead@sme.example", "ops@op.example"]
    assert sent("booking.confirmed") == ["lead@sme.example"]
    assert sent("booking.cancelled") == ["lead@sme.example", "ops@op.example"]
    assert len(receiver.received) == 3
    assert len({m["headers"]["webhook-id"] for m in receiver.received}) == 3


def test_failing_endpoint_is_retried_then_disabled_and_owner_told(
        equipment, sme, operator, people, receiver, settings, client,
        django_capture_on_commit_callbacks):
    settings.SITE_URL = SITE
    receiver.statuses = [500]
    endpoint = WebhookEndpointFactory(organization=operator, url=receiver.url,
                                              event_types=["booking.*"])
    for day in range(2, 2 + outbox.DISABLE_AFTER_FAILURES):
        with django_capture_on_commit_callbacks(execute=True):
            services.create_booking(equipment_id=equipment.pk, organization=sme,
                                    start=local(day, 9), end=local(day, 10), purpose="x",
                                    by_user=people["lead"])
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.consecutive_failures == 10
    assert sent("webhook.disabled") == ["ops@op.example"]
    [told] = [m for m in mail.outbox if m.extra_headers["X-Testbed-Event"] == "webhook.disabled"]
    assert link_in(told.body) == f"{SITE}/console/webhooks/"  # where it is re-enabled
    assert opens_for(client, people["ops"], link_in(told.body)) == 200
    assert not OutboxMessage.objects.filter(channel="webhook", status="pending").exists()
    assert len(receiver.received) == 10



def test_each_side_gets_the_link_to_its_own_page(
        approval_equipment, sme, operator, people, settings, client,
        django_capture_on_commit_callbacks):
    settings.SITE_URL = SITE
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=approval_equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=people["lead"])
    by_address = {m.to[0]: m.body for m in mail.outbox}
    sme_link = link_in(by_address["lead@sme.example"])
    operator_link = link_in(by_address["ops@op.example"])
    assert sme_link == f"{SITE}/bookings/{booking.pk}/"
    assert operator_link == f"{SITE}/console/bookings/{booking.pk}/"
    assert opens_for(client, people["lead"], sme_link) == 200
    assert opens_for(client, people["ops"], operator_link) == 200
    assert opens_for(client, people["lead"], operator_link) != 200  # each side its own page
    assert "在 Testbed 中打开" in by_address["lead@sme.example"]


def test_without_a_site_address_no_link(approval_equipment, sme, people, settings,
                                        django_capture_on_commit_callbacks):
    settings.SITE_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        services.create_booking(equipment_id=approval_equipment.pk, organization=sme,
                                start=local(2, 9), end=local(2, 11), purpose="x",
                                by_user=people["lead"])
    assert mail.outbox
    for message in mail.outbox:
        assert "Open in Testbed" not in message.body and "http" not in message.body
