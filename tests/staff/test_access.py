"""Only platform staff with the permission reach the queues and their actions: anonymous
visitors and portal users are sent to the login (which refuses non-staff with a 403);
staff without the permission get a 403 and nothing changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from bookings.models import Booking
from core.models import OutboxMessage
from organizations.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.staff.conftest import client_of, old_request, outbox_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(applicant, equipment, sme):
    booking = old_request(equipment, sme)
    message = outbox_message(status=OutboxMessage.Status.FAILED, age=timedelta(hours=2), attempts=8)
    return {
        "index": (reverse("admin:index"), {}),
        "verify": (reverse("admin:organizations_organization_verify", args=[applicant.pk]), {}),
        "refuse": (
            reverse("admin:organizations_organization_refuse", args=[applicant.pk]),
            {"reason": "No"},
        ),
        "approve": (reverse("admin:bookings_booking_approve", args=[booking.pk]), {"reason": "ok"}),
        "reject": (reverse("admin:bookings_booking_reject", args=[booking.pk]), {"reason": "No"}),
        "retry": (reverse("admin:core_outboxmessage_retry", args=[message.pk]), {}),
    }


def unchanged(applicant) -> bool:
    applicant.refresh_from_db()
    return (
        not applicant.verified
        and Booking.objects.get().status == Booking.Status.REQUESTED
        and OutboxMessage.objects.get().status == OutboxMessage.Status.FAILED
    )


# The portal's seats (as in the console's matrix): none of them is platform staff, whatever
# its role in its organisation — the operator's member and admin included.
PORTAL_SEATS = {
    "sme": ("sme", Membership.Role.ADMIN),
    "university": ("university", Membership.Role.ADMIN),
    "operator member": ("operator", Membership.Role.OPERATOR),
    "operator admin": ("operator", Membership.Role.ADMIN),
    "other flagship": ("other_operator", Membership.Role.ADMIN),
}


@pytest.fixture
def portal_user(request, who):
    if who == "anonymous":
        return None
    fixture, role = PORTAL_SEATS[who]
    organization = request.getfixturevalue(fixture) if fixture != "university" else (
        OrganizationFactory(university=True))
    return MembershipFactory(organization=organization, role=role,
                             user=UserFactory(email=f"{role}@{organization.slug}.test")).user


@pytest.mark.parametrize("who", ["anonymous", *PORTAL_SEATS])
@pytest.mark.parametrize("name", ["index", "verify", "refuse", "approve", "reject", "retry"])
def test_non_staff_are_sent_to_the_login(who, name, targets, applicant, portal_user):
    client = Client() if portal_user is None else client_of(portal_user)
    url, data = targets[name]
    for response in (client.get(url), client.post(url, data)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert unchanged(applicant)
    if portal_user is not None:  # and the login refuses them
        assert client.get(reverse("admin:login")).status_code == 403


@pytest.mark.parametrize("name", ["verify", "refuse", "approve", "reject", "retry"])
def test_staff_without_the_permission_are_refused(name, targets, applicant, powerless_staff):
    url, data = targets[name]
    assert client_of(powerless_staff).post(url, data).status_code == 403
    assert unchanged(applicant)
