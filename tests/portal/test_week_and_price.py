"""The equipment's week marks the SME's own bookings as "yours" (others stay "taken"), and
the booking form shows the price of the chosen period (issue 15, part 4)."""

import pytest
from django.urls import reverse

from bookings.models import Booking
from bookings.portal.week import OWN, UNAVAILABLE

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db


def cells_at(response, day_offset: int, hour: int):
    """The block of the week showing that hour."""
    return response.context["week"].block_at(local(day_offset, hour))


def test_own_bookings_are_marked_yours_and_others_taken(
    client_sme, equipment, sme, other_sme, admin_user
):
    make_booking(equipment, sme, local(1, 9), local(1, 11), user=admin_user)
    make_booking(equipment, other_sme, local(1, 13), local(1, 15))
    make_booking(equipment, sme, local(1, 16), local(1, 17), status=Booking.Status.CANCELLED)
    response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]))
    assert cells_at(response, 1, 9).state == OWN
    assert cells_at(response, 1, 13).state == UNAVAILABLE
    assert cells_at(response, 1, 16).state == "free"  # a cancelled booking frees the slot
    html = response.content.decode()
    assert 'class="slot own" title="Your booking"' in html
    assert "Yours: your organisation" in html  # what a screen reader says
    assert "Booked or unavailable" in html


def test_another_sme_sees_my_booking_as_taken(client_other, equipment, sme, admin_user):
    make_booking(equipment, sme, local(1, 9), local(1, 11), user=admin_user)
    response = client_other.get(reverse("bookings:calendar", args=[equipment.pk]))
    assert cells_at(response, 1, 9).state == UNAVAILABLE
    assert 'title="Your booking"' not in response.content.decode()


def test_the_booking_form_shows_the_price_of_the_period(client_sme, equipment):
    response = client_sme.get(
        reverse("bookings:book", args=[equipment.pk]),
        {"start": form_time(local(2, 9)), "end": form_time(local(2, 11, 30))},
    )
    assert response.context["quote"]["price"] == 1000  # 2.5 h × ¥400
    assert "¥1,000.00" in response.content.decode() or "¥1000.00" in response.content.decode()
    assert 'hx-get="/catalog/equipment/' in response.content.decode()


def test_the_price_partial_follows_the_period(client_sme, equipment):
    equipment.hourly_rate = "333.33"
    equipment.save()
    url = reverse("bookings:price", args=[equipment.pk])
    response = client_sme.get(
        url,
        {"start": form_time(local(2, 9)), "end": form_time(local(2, 10, 30))},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert str(response.context["quote"]["price"]) == "500.00"  # 1.5 × 333.33 = 499.995
    assert "¥500.00" in response.content.decode()
    empty = client_sme.get(url, {"start": "not a time", "end": ""})
    assert empty.context["quote"] is None
    assert "Choose the start and end to see the price." in empty.content.decode()
