"""Hostile input on portal pages: a refused reason cancels nothing; a token holding a NUL
is not found before any lookup (PostgreSQL cannot compare text holding one)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from bookings import services
from bookings.models import Booking
from core.errors import ValidationFailed
from tests.factories import UserFactory

from .conftest import local, make_booking

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("reason", ["x" * 2001, "a\x00b"])
def test_a_refused_cancellation_reason_cancels_nothing(client_sme, equipment, sme, admin_user,
                                                       reason):
    booking = make_booking(equipment, sme, local(3, 9), local(3, 11), user=admin_user)
    response = client_sme.post(reverse("bookings:cancel", args=[booking.pk]),
                               {"reason": reason})
    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_every_door_limits_a_decisions_reason(equipment, sme, operator):
    booking = make_booking(equipment, sme, local(3, 9), local(3, 11),
                           status=Booking.Status.REQUESTED)
    with pytest.raises(ValidationFailed) as refused:
        services.reject_booking(booking_id=booking.pk, organization=operator,
                                reason="x" * (services.REASON_MAX_LENGTH + 1))
    assert (refused.value.violations[0].code, refused.value.violations[0].field) == (
        "booking_reason_too_long", "reason")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.REQUESTED


def test_the_admins_decision_with_a_too_long_reason_changes_nothing(equipment, sme):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    booking = make_booking(equipment, sme, local(3, 9), local(3, 11),
                           status=Booking.Status.REQUESTED)
    url = reverse("admin:bookings_booking_reject", args=[booking.pk])
    response = staff.post(url, {"reason": "x" * 10_001})
    assert response.status_code == 200  # the form again, with the error at the reason
    assert "reason" in response.context["form"].errors
    booking.refresh_from_db()
    assert (booking.status, booking.decision_reason) == (Booking.Status.REQUESTED, "")
    staff.post(url, {"reason": "Fixture missing."})  # the same form, a fair reason
    booking.refresh_from_db()
    assert (booking.status, booking.decision_reason) == (Booking.Status.REJECTED,
                                                         "Fixture missing.")


@pytest.mark.parametrize("path", ["/invitations/a\x00b/", "/invitations/a\x00b/accept/",
                                  "/calendar/a\x00b.ics", "/console/api-keys/a\x00b/revoke/"])
def test_a_token_holding_a_nul_is_not_found(client, path):
    with pytest.raises(Resolver404):
        resolve(path)
    assert client.get(path.replace("\x00", "%00")).status_code == 404


def test_a_hub_slug_holding_a_nul_is_not_found_in_the_api(sme_client):
    response = sme_client.get("/api/v1/hubs/a%00b/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
