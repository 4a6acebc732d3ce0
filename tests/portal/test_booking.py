"""The calendar and the booking form: free and unavailable slots in the hub's time zone
(never whose), htmx partials, and the form calling the booking service, its refusals
shown next to the fields in plain words."""

from datetime import timedelta

import pytest
from django.urls import reverse

from bookings.models import Booking, BookingEvent
from bookings.portal.week import CLOSED, FREE, UNAVAILABLE

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db


def cells_by_start(week):
    """Each row start of the week (every step inside each block) with its block."""
    return {block.start + i * timedelta(minutes=week.step): block
            for days in week.columns for day in days for block in day.blocks
            for i in range(block.last - block.first)}


def test_week_shows_free_and_taken_slots_without_the_holder(client_sme, equipment, other_sme,
                                                            hub):
    hub.opening_hours = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri",
                                                            "sat", "sun")}
    hub.save()
    taken = make_booking(equipment, other_sme, local(2, 10), local(2, 12))
    day = taken.start.date().isoformat()
    response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]), {"from": day})
    week = response.context["week"]
    cells = cells_by_start(week)
    assert week.labels[0] == "08:00" and week.labels[-1] == "17:30"
    assert cells[local(2, 10)].state == UNAVAILABLE
    assert cells[local(2, 11, 30)].state == UNAVAILABLE
    assert cells[local(2, 12)].state == FREE
    assert cells[local(2, 9)].state == FREE
    # One free block from opening to the booking; it proposes its first hour (the form
    # lets the user move it), and knows where the free period ends.
    assert cells[local(2, 9)] is cells[local(2, 8)]
    assert cells[local(2, 9)].slot.book_start == local(2, 8)
    assert cells[local(2, 9)].slot.end == local(2, 10)
    assert b"Green Motor" not in response.content and b"Trial plan" not in response.content
    assert f"?start={form_time(local(2, 12))}&amp;end={form_time(local(2, 13))}".encode() \
        in response.content


def test_week_marks_closed_hours(client_sme, equipment, hub):
    hub.opening_hours = {"mon": [["08:00", "12:00"]], "tue": [["08:00", "12:00"]],
                         "wed": [["08:00", "12:00"]], "thu": [["08:00", "12:00"]],
                         "fri": [["08:00", "12:00"]], "sat": [["13:00", "17:00"]],
                         "sun": [["13:00", "17:00"]]}
    hub.save()
    response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]),
                              {"from": local(2, 0).date().isoformat()})
    week = response.context["week"]
    assert week.labels[0] == "08:00" and week.labels[-1] == "16:30"
    day = local(2, 0)
    states = {at.hour: c.state for at, c in cells_by_start(week).items()
              if at.date() == day.date()}
    if day.weekday() < 5:
        assert states[8] == FREE and states[14] == CLOSED
    else:
        assert states[8] == CLOSED and states[14] == FREE


def test_week_navigation_is_an_htmx_partial_and_stays_bookable(client_sme, equipment):
    url = reverse("bookings:calendar", args=[equipment.pk])
    full = client_sme.get(url)
    assert b"<html" in full.content and full.context["previous"] is None
    nxt = full.context["next"]
    part = client_sme.get(url, {"from": nxt.isoformat()}, HTTP_HX_REQUEST="true")
    assert b"<html" not in part.content and b'id="week-h"' in part.content
    assert part.context["week"].first_day == nxt and part.context["previous"] is not None
    assert "HX-Request" in part["Vary"]
    restore = client_sme.get(url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in restore.content
    past = client_sme.get(url, {"from": "2000-01-03"})
    assert past.context["week"].first_day == full.context["week"].first_day


def test_form_is_prefilled_from_the_chosen_slot(client_sme, equipment, admin_user):
    url = reverse("bookings:book", args=[equipment.pk])
    start, end = form_time(local(2, 9)), form_time(local(2, 10))
    response = client_sme.get(url, {"start": start, "end": end}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and f'value="{start}"' in html and f'value="{end}"' in html
    assert f'<option value="{admin_user.email}" selected>' in html
    assert 'for="id_purpose"' in html and 'step="1800"' in html


def post_booking(client, equipment, start, end, **extra):
    return client.post(reverse("bookings:book", args=[equipment.pk]), {
        "start": form_time(start), "end": form_time(end), "purpose": "Roughing trial",
        **extra})


def test_booking_goes_through_the_service(client_sme, equipment, sme, admin_user):
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11))
    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("bookings:detail", args=[booking.pk])
    assert (booking.organization, booking.requested_by, booking.trial_lead) == (
        sme, admin_user, admin_user)
    assert booking.start == local(2, 9) and booking.status == Booking.Status.CONFIRMED
    assert booking.price == 2 * equipment.hourly_rate
    assert list(BookingEvent.objects.filter(booking=booking).values_list("to_status", flat=True)
                ) == ["confirmed"]
    page = client_sme.get(response["Location"])
    assert b"Booking confirmed." in page.content


def test_policy_violations_are_shown_next_to_their_fields(client_sme, equipment):
    response = post_booking(client_sme, equipment, local(2, 9, 15), local(2, 9, 45))
    assert response.status_code == 200 and not Booking.objects.exists()
    form = response.context["form"]
    assert "Bookings start and end on 30 min steps" in form.errors["start"][0]
    assert form.errors["end"] == ["A booking lasts at least 1 h."]
    html = response.content.decode()
    assert 'id="id_start_errors"' in html and 'aria-invalid="true"' in html


def test_start_in_the_past_and_lead_time(client_sme, equipment):
    response = post_booking(client_sme, equipment, local(-1, 9), local(-1, 11))
    assert response.context["form"].errors["start"] == ["The start is in the past."]
    equipment.lead_time = 2880
    equipment.save()
    response = post_booking(client_sme, equipment, local(1, 9), local(1, 11))
    assert response.context["form"].errors["start"] == ["Book at least 48 h before the start."]


def test_slot_taken_is_a_form_error(client_sme, equipment, other_sme):
    make_booking(equipment, other_sme, local(2, 9), local(2, 11))
    response = post_booking(client_sme, equipment, local(2, 10), local(2, 12))
    assert response.context["form"].non_field_errors() == [
        "This slot is already taken. Pick another free slot."]
    assert b"The booking could not be made" in response.content
    assert Booking.objects.count() == 1


def test_unverified_organisation_is_told_why(client_sme, equipment, sme):
    sme.verified = False
    sme.save()
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11))
    errors = response.context["form"].non_field_errors()
    assert any("has not been verified yet" in e for e in errors)
    assert b"waiting for verification" in response.content  # the banner, on every page
    assert not Booking.objects.exists()


def test_qualification_and_trial_lead(client_sme, equipment, member_user):
    equipment.qualification_required = True
    equipment.save()
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11),
                            trial_lead=member_user.email)
    assert response.context["form"].errors["trial_lead"] == [
        "The trial lead holds no valid qualification for this equipment."]
    from tests.factories import QualificationFactory

    QualificationFactory(user=member_user, equipment=equipment)
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11),
                            trial_lead=member_user.email)
    assert response.status_code == 302
    assert Booking.objects.get().trial_lead == member_user


def test_trial_lead_must_be_a_member(client_sme, equipment, other_user):
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11),
                            trial_lead=other_user.email)
    assert "trial_lead" in response.context["form"].errors
    assert not Booking.objects.exists()


def test_missing_fields_and_unknown_codes(client_sme, equipment):
    response = client_sme.post(reverse("bookings:book", args=[equipment.pk]), {})
    required = ["This field is required."]
    assert response.context["form"].errors == {"start": required, "end": required,
                                               "purpose": required}
    assert not Booking.objects.exists()
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 19))
    assert response.context["form"].errors["end"] == ["A booking lasts at most 8 h."]


def test_approval_needed_means_requested(client_sme, equipment):
    equipment.approval_required = True
    equipment.save()
    response = post_booking(client_sme, equipment, local(2, 9), local(2, 11))
    assert Booking.objects.get().status == Booking.Status.REQUESTED
    assert b"the hub operator will confirm it" in client_sme.get(response["Location"]).content


def test_week_lists_free_periods_for_small_screens(client_sme, equipment, other_sme):
    make_booking(equipment, other_sme, local(2, 10), local(2, 12))
    response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]),
                              {"from": local(2, 0).date().isoformat()})
    free = response.context["week"].free
    assert any(s.end == local(2, 10) for s in free) and any(s.start == local(2, 12) for s in free)
    assert all(s.book_end - s.book_start >= timedelta(hours=1) for s in free)
