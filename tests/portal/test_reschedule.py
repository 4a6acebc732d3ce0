"""Moving a booking (issue 15, part 4): one transaction under the equipment lock; the new
period passes every rule of a new booking or nothing changes; the history records the
move."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings import services
from bookings.models import Booking, BookingEvent
from core.errors import Conflict, ValidationFailed

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(equipment, sme, admin_user):
    return services.create_booking(
        equipment_id=equipment.pk,
        organization=sme,
        start=local(2, 9),
        end=local(2, 11),
        purpose="Milling",
        by_user=admin_user,
    )


def move(client, booking, start, end):
    return client.post(
        reverse("bookings:reschedule", args=[booking.pk]),
        {"start": form_time(start), "end": form_time(end)},
    )


def test_moving_into_a_taken_slot_changes_nothing_and_says_why(
    client_sme, mine, equipment, other_sme
):
    make_booking(equipment, other_sme, local(3, 9), local(3, 12))
    response = move(client_sme, mine, local(3, 10), local(3, 12))
    assert response.status_code == 400
    assert b"This slot is already taken" in response.content
    mine.refresh_from_db()
    assert (mine.start, mine.end, mine.price) == (local(2, 9), local(2, 11), Decimal("800.00"))
    assert list(mine.events.values_list("code", flat=True)) == ["booking.confirmed"]


def test_moving_breaking_a_rule_shows_it_at_its_field(client_sme, mine):
    response = move(client_sme, mine, local(3, 9), local(3, 9, 30))  # shorter than 1 h
    assert response.status_code == 400
    assert response.context["reschedule_form"].errors["end"] == ["A booking lasts at least 1 h."]
    mine.refresh_from_db()
    assert mine.start == local(2, 9)


def test_moving_moves_reprices_and_records(
    client_sme, mine, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = move(client_sme, mine, local(4, 13), local(4, 16))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.start, mine.end, mine.blocked_until) == (local(4, 13), local(4, 16), local(4, 16))
    assert mine.price == Decimal("1200.00") and mine.status == Booking.Status.CONFIRMED
    event = mine.events.last()
    assert event.code == "booking.rescheduled" and event.actor_user == admin_user
    assert (event.from_status, event.to_status) == ("confirmed", "confirmed")
    assert f"{local(2, 9):%Y-%m-%d} 09:00–11:00 → {local(4, 13):%Y-%m-%d} 13:00–16:00" in (
        event.reason
    )
    assert event.notified_at is not None  # fanned out like every change
    page = client_sme.get(response["Location"])
    assert f"Booking #{mine.pk} is moved".encode() in page.content


def test_a_move_overlapping_its_own_old_period_is_fine(mine, sme, admin_user):
    moved = services.reschedule_booking(
        booking_id=mine.pk,
        organization=sme,
        start=local(2, 10),
        end=local(2, 12),
        by_user=admin_user,
    )
    assert (moved.start, moved.end) == (local(2, 10), local(2, 12))


def test_the_open_bookings_limit_does_not_count_the_booking_moved(equipment, sme, admin_user):
    equipment.max_open_bookings_per_sme = 1
    equipment.save()
    booking = services.create_booking(
        equipment_id=equipment.pk,
        organization=sme,
        start=local(2, 9),
        end=local(2, 11),
        purpose="x",
        by_user=admin_user,
    )
    services.reschedule_booking(
        booking_id=booking.pk,
        organization=sme,
        start=local(5, 9),
        end=local(5, 11),
        by_user=admin_user,
    )
    assert Booking.objects.get(pk=booking.pk).start == local(5, 9)


def test_what_cannot_be_moved(equipment, sme, other_sme, operator, admin_user, mine):
    with pytest.raises(ValidationFailed) as same:
        services.reschedule_booking(
            booking_id=mine.pk, organization=sme, start=mine.start, end=mine.end
        )
    assert same.value.violations[0].code == "reschedule_same_period"
    done = make_booking(
        equipment, sme, local(-2, 9), local(-2, 10), status=Booking.Status.COMPLETED
    )
    with pytest.raises(Conflict) as finished:
        services.reschedule_booking(
            booking_id=done.pk, organization=sme, start=local(6, 9), end=local(6, 10)
        )
    assert finished.value.code == "reschedule_not_possible"
    with pytest.raises(Exception) as foreign:
        services.reschedule_booking(
            booking_id=mine.pk, organization=other_sme, start=local(6, 9), end=local(6, 10)
        )
    assert foreign.value.code == "booking_not_found"
    with pytest.raises(Exception) as by_operator:
        services.reschedule_booking(
            booking_id=mine.pk, organization=operator, start=local(6, 9), end=local(6, 10)
        )
    assert by_operator.value.code == "not_allowed"
    assert BookingEvent.objects.filter(code="booking.rescheduled").count() == 0


def test_an_approved_booking_of_approval_equipment_is_not_moved(
    equipment, sme, admin_user, client_sme
):
    equipment.approval_required = True
    equipment.save()
    booking = make_booking(equipment, sme, local(2, 9), local(2, 11), user=admin_user)
    with pytest.raises(Conflict) as refused:
        services.reschedule_booking(
            booking_id=booking.pk, organization=sme, start=local(3, 9), end=local(3, 11)
        )
    assert refused.value.code == "reschedule_not_possible"
    page = client_sme.get(reverse("bookings:detail", args=[booking.pk]))
    assert not page.context["reschedulable"] and b"Move this booking" not in page.content
    requested = make_booking(
        equipment, sme, local(4, 9), local(4, 11), user=admin_user, status=Booking.Status.REQUESTED
    )
    services.reschedule_booking(
        booking_id=requested.pk, organization=sme, start=local(5, 9), end=local(5, 11)
    )
    assert Booking.objects.get(pk=requested.pk).status == Booking.Status.REQUESTED


def test_another_smes_booking_is_404(client_other, mine):
    response = move(client_other, mine, local(4, 9), local(4, 11))
    assert response.status_code == 404
    assert Booking.objects.get(pk=mine.pk).start == local(2, 9)


def test_the_booking_page_offers_the_move(client_sme, mine):
    page = client_sme.get(reverse("bookings:detail", args=[mine.pk]))
    assert b"Move this booking" in page.content
    form = page.context["reschedule_form"]
    assert form.initial["start"].strftime("%H:%M") == "09:00"
    assert timedelta(hours=2) == form.initial["end"] - form.initial["start"]
