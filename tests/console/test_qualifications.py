"""Qualification requests end to end (issue 15, part 4): the SME is refused for want of a
qualification, asks for one from the refusal, the operator grants it with an expiry in the
console queue (or refuses with a reason), the requester is e-mailed either way, and the
booking is then allowed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from core.models import OutboxMessage
from equipment import services
from equipment.models import Qualification, QualificationRequest
from organizations.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures.links import SITE, link_in
from tests.fixtures.world import local

from .conftest import logged_in

pytestmark = pytest.mark.django_db
R = QualificationRequest.Status


@pytest.fixture
def lead(sme):
    return MembershipFactory(
        organization=sme, role=Membership.Role.ADMIN, user=UserFactory(email="lead@precision.test")
    ).user


@pytest.fixture
def strict(equipment):
    equipment.qualification_required = True
    equipment.save()
    return equipment


def book(client, equipment, lead, day=2):
    return client.post(
        reverse("bookings:book", args=[equipment.pk]),
        {
            "start": local(day, 9).strftime("%Y-%m-%dT%H:%M"),
            "end": local(day, 11).strftime("%Y-%m-%dT%H:%M"),
            "purpose": "Titanium roughing",
            "trial_lead": lead.email,
        },
    )


def mails_to(address: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(recipient=address, channel="email").order_by("pk"))


def test_request_grant_then_the_booking_is_allowed(strict, lead, operator_member, console_member,
                                                   settings):
    settings.SITE_URL = SITE
    sme_client = logged_in(lead)
    refused = book(sme_client, strict, lead)
    assert refused.status_code == 200 and not Booking.objects.exists()
    ask_url = reverse("bookings:request-qualification", args=[strict.pk])
    assert refused.context["qualification_refused"] and ask_url in refused.content.decode()

    sent = sme_client.post(ask_url, {"note": "Five years on DMG machines"})
    assert sent.status_code == 302 and sent["Location"] == reverse("bookings:qualifications")
    request = QualificationRequest.objects.get()
    assert (request.user, request.equipment, request.status) == (lead, strict, R.REQUESTED)
    [told] = mails_to(operator_member.email)  # the operator hears of it, with the queue's link
    assert link_in(told.payload["body"]) == f"{SITE}{reverse('console:qualifications')}"
    again = sme_client.post(ask_url, {"note": "again"})
    assert "already asked" in again.content.decode()
    assert QualificationRequest.objects.count() == 1

    queue = console_member.get(reverse("console:qualifications"))
    assert queue.status_code == 200 and lead.email.encode() in queue.content
    day = (timezone.localdate() + timedelta(days=90)).isoformat()
    granted = console_member.post(
        reverse("console:qualification-grant", args=[request.pk]), {f"g{request.pk}-expires": day}
    )
    assert granted.status_code == 302
    request.refresh_from_db()
    assert request.status == R.GRANTED and request.decided_by == operator_member
    qualification = Qualification.objects.get(user=lead)
    assert qualification.equipment == strict and qualification.expires == request.expires
    assert qualification.expires > timezone.now() + timedelta(days=89)
    mail = mails_to(lead.email)[-1]
    assert "Qualification granted" in mail.payload["subject"]
    assert "资格" in mail.payload["body"] or "Qualification granted" in mail.payload["body"]
    assert link_in(mail.payload["body"]) == f"{SITE}{reverse('bookings:qualifications')}"

    booked = book(sme_client, strict, lead)
    assert booked.status_code == 302 and Booking.objects.count() == 1
    mine = sme_client.get(reverse("bookings:qualifications"))
    assert b"Granted" in mine.content


def test_refusal_needs_a_reason_and_is_mailed(strict, lead, console_admin):
    request = services.request_qualification(
        user=lead, organization=lead.memberships.get().organization, equipment_id=strict.pk
    )
    url = reverse("console:qualification-refuse", args=[request.pk])
    empty = console_admin.post(url, {f"r{request.pk}-reason": "  "})
    assert empty.status_code == 400
    assert QualificationRequest.objects.get().status == R.REQUESTED
    done = console_admin.post(url, {f"r{request.pk}-reason": "Take the safety course first"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == R.REFUSED and request.reason == "Take the safety course first"
    mail = mails_to(lead.email)[-1]
    assert "Qualification refused" in mail.payload["subject"]
    assert "Take the safety course first" in mail.payload["body"]
    assert not Qualification.objects.exists()
    # Decided once: a second decision is refused and changes nothing.
    twice = console_admin.post(
        reverse("console:qualification-grant", args=[request.pk]),
        {f"g{request.pk}-expires": "2099-01-01"},
        follow=True,
    )
    assert "already been decided" in twice.content.decode()
    assert not Qualification.objects.exists()


def test_grant_with_a_past_expiry_is_refused_at_its_field(strict, lead, console_admin):
    request = services.request_qualification(
        user=lead, organization=lead.memberships.get().organization, equipment_id=strict.pk
    )
    response = console_admin.post(
        reverse("console:qualification-grant", args=[request.pk]),
        {f"g{request.pk}-expires": "2020-01-01"},
    )
    assert response.status_code == 400
    assert "The expiry must be in the future." in response.content.decode()
    assert QualificationRequest.objects.get().status == R.REQUESTED


def test_another_operator_neither_sees_nor_decides(strict, lead, other_operator):
    request = services.request_qualification(
        user=lead, organization=lead.memberships.get().organization, equipment_id=strict.pk
    )
    stranger = logged_in(
        MembershipFactory(
            organization=other_operator,
            role=Membership.Role.ADMIN,
            user=UserFactory(email="x@phonetech.test"),
        ).user
    )
    assert lead.email.encode() not in stranger.get(reverse("console:qualifications")).content
    response = stranger.post(
        reverse("console:qualification-grant", args=[request.pk]),
        {f"g{request.pk}-expires": "2099-01-01"},
    )
    assert response.status_code == 404
    with pytest.raises(Exception) as refused:
        services.refuse_qualification_request(
            request_id=request.pk, organization=other_operator, reason="no"
        )
    assert refused.value.code == "qualification_request_not_found"
    assert QualificationRequest.objects.get().status == R.REQUESTED


def test_the_request_page_and_the_list(strict, lead):
    client = logged_in(lead)
    page = client.get(reverse("bookings:request-qualification", args=[strict.pk]))
    assert page.status_code == 200 and strict.name.encode() in page.content
    assert client.get(reverse("bookings:request-qualification", args=[99999])).status_code == 404
    empty = client.get(reverse("bookings:qualifications"))
    assert b"You have not asked for a qualification yet." in empty.content


def test_the_default_expiry_is_a_year_from_the_hubs_today(strict, lead, console_admin):
    """At 01:00 in Shanghai (the site's zone) it is still yesterday at a Los Angeles hub:
    the grant form offers a year from the hub's day, not the site's."""
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    import time_machine

    hub = strict.hub
    hub.timezone = "America/Los_Angeles"
    hub.save(update_fields=["timezone"])
    services.request_qualification(user=lead, organization=lead.memberships.get().organization,
                                   equipment_id=strict.pk)
    # Tomorrow 01:00 in Shanghai is still today at 09:00 in Los Angeles.
    hub_today = timezone.localdate(timezone=ZoneInfo("America/Los_Angeles"))
    moment = datetime.combine(hub_today, time(9), ZoneInfo("America/Los_Angeles"))
    assert timezone.localdate(moment) == hub_today + timedelta(days=1)
    with time_machine.travel(moment.astimezone(UTC)):
        response = console_admin.get(reverse("console:qualifications"))
    assert response.status_code == 200
    expected = (hub_today + timedelta(days=365)).isoformat()
    assert f'value="{expected}"' in response.content.decode()
