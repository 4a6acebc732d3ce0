"""The staff queues on the console's index (issue 15, part 2): organisations awaiting
verification, booking requests waiting longer than a day, failed deliveries and stuck
outbox messages, each with its count, its items and their actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import OutboxMessage
from organizations import services as org_services
from tests.factories import OrganizationFactory
from tests.fixtures.world import local
from tests.staff.conftest import client_of, old_request, outbox_message

pytestmark = pytest.mark.django_db
M = OutboxMessage.Status


def queues(client) -> dict:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {queue.key: queue for queue in response.context["staff_queues"]}


def queue_html(client, key: str) -> str:
    """The HTML of one queue's section on the index."""
    page = client.get(reverse("admin:index")).content.decode()
    start = page.index(f'id="{key}"')
    return page[start : page.index('<div class="module', start)]


def test_empty_queues_say_so(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    for text in (
        "No organisation is awaiting verification.",
        "No booking request has waited longer than a day.",
        "No delivery has failed.",
        "No outbox message is stuck.",
    ):
        assert text in page
    assert "0 organisations awaiting verification" in page
    # The models are still listed below the queues.
    assert reverse("admin:bookings_booking_changelist") in page


def test_organisations_awaiting_verification(staff_client, staff, applicant, sme):
    OrganizationFactory(name="Suspended Ltd", verified=False, suspended_at=timezone.now())
    OrganizationFactory(name="Unverified Flagship", verified=False, flagship=True)
    refused = OrganizationFactory(name="Refused Ltd", verified=False)
    org_services.refuse_organization(organization=refused, reason="No such company", by=staff)
    queue = queues(staff_client)["queue-verification"]
    assert queue.count == 1
    assert [item.title for item in queue.items] == ["Newcomer Tooling"]
    item = queue.items[0]
    assert "boss@newcomer.test" in item.detail and applicant.credit_code in item.detail
    assert [a.url for a in item.actions] == [
        reverse("admin:organizations_organization_verify", args=[applicant.pk]),
        reverse("admin:organizations_organization_refuse", args=[applicant.pk]),
    ]
    section = queue_html(staff_client, "queue-verification")
    assert "1 organisation awaiting verification" in section
    assert "Newcomer Tooling" in section
    assert "Refused Ltd" not in section and "Suspended Ltd" not in section


def test_requests_waiting_longer_than_a_day(staff_client, equipment, sme, other_sme):
    waiting = old_request(equipment, sme, days=2, start=local(2, 9), end=local(2, 11))
    # Recent: not yet the staff's concern.
    old_request(equipment, other_sme, days=0.5, start=local(3, 9), end=local(3, 11))
    confirmed = old_request(equipment, sme, days=3, start=local(4, 9), end=local(4, 11))
    confirmed.status = "confirmed"
    confirmed.save(update_fields=["status"])
    queue = queues(staff_client)["queue-waiting-requests"]
    assert queue.count == 1
    (item,) = queue.items
    assert item.url == reverse("admin:bookings_booking_change", args=[waiting.pk])
    assert f"#{waiting.pk}" in item.title and "Precision Parts" in item.detail
    assert [a.url for a in item.actions] == [
        reverse("admin:bookings_booking_approve", args=[waiting.pk]),
        reverse("admin:bookings_booking_reject", args=[waiting.pk]),
    ]
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "1 booking request waiting longer than a day" in page


def test_failed_deliveries_and_stuck_messages(staff_client):
    failed = outbox_message(
        status=M.FAILED,
        age=timedelta(hours=5),
        attempts=8,
        last_error="SMTPServerDisconnected: gone",
        to="a@example.test",
    )
    stuck = outbox_message(
        status=M.PENDING, age=timedelta(hours=2), attempts=3, to="b@example.test"
    )
    outbox_message(status=M.PENDING, age=timedelta(minutes=1), to="c@example.test")  # fresh
    outbox_message(status=M.SENT, age=timedelta(days=1), attempts=1, to="d@example.test")
    found = queues(staff_client)
    failed_queue, stuck_queue = found["queue-failed-deliveries"], found["queue-stuck-messages"]
    assert (failed_queue.count, stuck_queue.count) == (1, 1)
    assert "a@example.test" in failed_queue.items[0].title
    assert "SMTPServerDisconnected" in failed_queue.items[0].detail
    assert "b@example.test" in stuck_queue.items[0].title
    retry = [a for a in failed_queue.items[0].actions if a.post]
    assert [a.url for a in retry] == [reverse("admin:core_outboxmessage_retry", args=[failed.pk])]
    assert stuck_queue.items[0].actions[0].url == reverse(
        "admin:core_outboxmessage_retry", args=[stuck.pk]
    )
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "1 failed delivery" in page and "1 outbox message stuck" in page


def test_a_long_queue_lists_the_first_items_and_counts_all(staff_client, monkeypatch):
    import core.admin

    monkeypatch.setattr(core.admin, "QUEUE_LENGTH", 2)
    for n in range(3):
        outbox_message(
            status=M.FAILED, age=timedelta(hours=n + 1), attempts=8, to=f"n{n}@example.test"
        )
    queue = queues(staff_client)["queue-failed-deliveries"]
    assert queue.count == 3 and len(queue.items) == 2
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "See all 3" in page


def test_staff_without_permissions_see_no_queue(powerless_staff, applicant):
    response = client_of(powerless_staff).get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["staff_queues"] == []
    assert "Newcomer Tooling" not in response.content.decode()
