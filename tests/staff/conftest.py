"""Staff-queue fixtures: a platform superuser and its console client, a staff user with no
permission, and an SME awaiting verification with its administrator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bookings.models import Booking
from core.models import OutboxMessage
from organizations.models import Membership, Organization
from tests.factories import BookingFactory, MembershipFactory, OrganizationFactory, UserFactory


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@platform.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff) -> Client:
    return client_of(staff)


@pytest.fixture
def powerless_staff(db):
    """Staff (may open the console) without any model permission."""
    return UserFactory(email="intern@platform.test", is_staff=True)


@pytest.fixture
def applicant(db) -> Organization:
    """A new SME nobody has verified yet, with an administrator and a member."""
    org = OrganizationFactory(name="Newcomer Tooling", slug="newcomer", verified=False)
    MembershipFactory(
        organization=org, role=Membership.Role.ADMIN, user=UserFactory(email="boss@newcomer.test")
    )
    MembershipFactory(
        organization=org,
        role=Membership.Role.MEMBER,
        user=UserFactory(email="engineer@newcomer.test"),
    )
    return org


def old_request(equipment, sme, *, days: float = 2, **fields) -> Booking:
    """A booking request made ``days`` ago (``created`` is set by the database)."""
    booking = BookingFactory(
        equipment=equipment, organization=sme, status=Booking.Status.REQUESTED, **fields
    )
    Booking.objects.filter(pk=booking.pk).update(created=timezone.now() - timedelta(days=days))
    booking.refresh_from_db()
    return booking


def outbox_message(
    *,
    status: str,
    age: timedelta,
    attempts: int = 0,
    last_error: str = "",
    to: str = "someone@example.test",
) -> OutboxMessage:
    """An e-mail in the outbox as the outbox leaves it: ``status``, ``attempts``, created
    ``age`` ago."""
    message = OutboxMessage.objects.create(
        channel=OutboxMessage.Channel.EMAIL,
        event_type="booking.approved",
        dedupe_key=f"email:test:{to}:{status}:{age.total_seconds()}",
        recipient=to,
        message_id="msg_test",
        payload={"subject": "Subject", "body": "Body"},
        status=status,
        attempts=attempts,
        last_error=last_error,
        next_attempt_at=None if status != OutboxMessage.Status.PENDING else timezone.now() - age,
    )
    OutboxMessage.objects.filter(pk=message.pk).update(created=timezone.now() - age)
    message.refresh_from_db()
    return message

