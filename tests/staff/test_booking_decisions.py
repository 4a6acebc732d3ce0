"""Approving or rejecting one booking request in the console, with a reason (required to
reject): the booking service as the hub's operator writes the history with the reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bookings.models import Booking
from tests.staff.conftest import old_request

pytestmark = pytest.mark.django_db


def decide_url(verb: str, booking) -> str:
    return reverse(f"admin:bookings_booking_{verb}", args=[booking.pk])


@pytest.fixture
def request_(equipment, sme):
    return old_request(equipment, sme, days=2)


def test_the_request_page_offers_approve_and_reject(staff_client, request_):
    page = staff_client.get(
        reverse("admin:bookings_booking_change", args=[request_.pk])
    ).content.decode()
    assert decide_url("approve", request_) in page and decide_url("reject", request_) in page
    form = staff_client.get(decide_url("reject", request_))
    assert form.status_code == 200
    assert "Precision Parts" in form.content.decode()


def test_rejecting_needs_a_reason(staff_client, request_):
    response = staff_client.post(decide_url("reject", request_), {"reason": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    request_.refresh_from_db()
    assert request_.status == Booking.Status.REQUESTED
    assert not request_.events.exists()


def test_rejecting_with_a_reason_writes_the_history(
    staff_client, staff, request_, operator, django_capture_on_commit_callbacks
):
    reason = "The spindle is reserved for a calibration run that week."
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            decide_url("reject", request_), {"reason": reason, "next": reverse("admin:index")}
        )
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    request_.refresh_from_db()
    assert request_.status == Booking.Status.REJECTED
    assert (request_.decided_by, request_.decision_reason) == (staff, reason)
    event = request_.events.get()
    assert (event.code, event.reason, event.actor_user, event.actor_organization) == (
        "booking.rejected",
        reason,
        staff,
        operator,
    )


def test_approving_takes_an_optional_reason(staff_client, staff, request_, equipment, sme):
    response = staff_client.post(
        decide_url("approve", request_), {"reason": "Operator on leave; approved by the platform."}
    )
    assert response.status_code == 302
    request_.refresh_from_db()
    assert request_.status == Booking.Status.CONFIRMED
    assert request_.events.get().reason == "Operator on leave; approved by the platform."
    second = old_request(
        equipment,
        sme,
        days=2,
        start=request_.start.replace(year=2099),
        end=request_.end.replace(year=2099),
    )
    assert staff_client.post(decide_url("approve", second), {"reason": ""}).status_code == 302
    second.refresh_from_db()
    assert second.status == Booking.Status.CONFIRMED


def test_a_decided_request_is_not_decided_again(staff_client, request_):
    request_.status = Booking.Status.CANCELLED
    request_.save(update_fields=["status"])
    response = staff_client.post(decide_url("approve", request_), {"reason": "ok"}, follow=True)
    assert response.status_code == 200
    assert response.context["messages"]  # the service's refusal, shown
    request_.refresh_from_db()
    assert request_.status == Booking.Status.CANCELLED
    assert not request_.events.exists()


def test_an_unknown_booking_is_404(staff_client):
    assert (
        staff_client.get(reverse("admin:bookings_booking_approve", args=[999999])).status_code
        == 404
    )
