"""My bookings: upcoming and past, history, cancellation through the service (and its
refusal), the .ics file, and list queries that do not grow with the rows."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from bookings import services
from bookings.models import Booking

from .conftest import local, make_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def upcoming(equipment, sme, admin_user):
    return services.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(2, 9), end=local(2, 11), purpose="Face milling",
                                   by_user=admin_user)


def test_upcoming_and_past(client_sme, upcoming, past_booking, other_sme, equipment):
    theirs = make_booking(equipment, other_sme, local(3, 9), local(3, 10))
    now = client_sme.get(reverse("bookings:list"))
    assert [b.pk for b in now.context["page"].object_list] == [upcoming.pk]
    past = client_sme.get(reverse("bookings:list"), {"when": "past"})
    assert [b.pk for b in past.context["page"].object_list] == [past_booking.pk]
    assert f"#{theirs.pk}<".encode() not in now.content
    assert b"Confirmed" in now.content and b"DMU 50" in now.content


def list_queries(client, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("bookings:list"), params or {}).status_code == 200
    return len(ctx.captured_queries)


def test_list_queries_do_not_grow(client_sme, equipment, sme, admin_user):
    def add(n, offset):
        for i in range(n):
            make_booking(equipment, sme, local(offset + i, 9), local(offset + i, 10),
                         user=admin_user)
            make_booking(equipment, sme, local(-offset - i, 9), local(-offset - i, 10),
                         user=admin_user)

    add(5, 1)
    five, five_past = list_queries(client_sme), list_queries(client_sme, {"when": "past"})
    add(15, 10)
    assert list_queries(client_sme) == five
    assert list_queries(client_sme, {"when": "past"}) == five_past


def test_detail_shows_the_history(client_sme, upcoming, admin_user):
    response = client_sme.get(reverse("bookings:detail", args=[upcoming.pk]))
    history = response.context["history"]
    assert [(h["from"], str(h["to"]), h["by"]) for h in history] == [
        ("", "Confirmed", admin_user.email)]
    assert b"Face milling" in response.content and b"Cancel this booking" in response.content


def test_cancel(client_sme, upcoming, admin_user):
    response = client_sme.post(reverse("bookings:cancel", args=[upcoming.pk]),
                               {"reason": "Parts not ready"})
    assert response["Location"] == reverse("bookings:detail", args=[upcoming.pk])
    upcoming.refresh_from_db()
    assert upcoming.status == Booking.Status.CANCELLED
    # The SME's reason is its cancellation's (event), never the operator's decision_reason.
    assert upcoming.decision_reason == ""
    assert upcoming.events.last().reason == "Parts not ready"
    page = client_sme.get(response["Location"])
    assert b"Cancellation reason" in page.content and b"Parts not ready" in page.content
    assert f"Booking #{upcoming.pk} is cancelled.".encode() in page.content
    assert [str(h["to"]) for h in page.context["history"]] == ["Confirmed", "Cancelled"]
    assert b"Cancel this booking" not in page.content


def test_cancel_refusal_is_shown(client_sme, equipment, sme, admin_user):
    started = make_booking(equipment, sme, local(0, 0) - timedelta(hours=1),
                           local(0, 0) + timedelta(days=1), user=admin_user)
    response = client_sme.post(reverse("bookings:cancel", args=[started.pk]), follow=True)
    assert b"The booking has started; ask the hub operator to cancel it." in response.content
    started.refresh_from_db()
    assert started.status == Booking.Status.CONFIRMED
    done = make_booking(equipment, sme, local(-5, 9), local(-5, 10),
                        status=Booking.Status.COMPLETED)
    response = client_sme.post(reverse("bookings:cancel", args=[done.pk]), follow=True)
    assert b"cannot be cancelled in its current state" in response.content


def test_cancel_asks_for_confirmation_first(client_sme, upcoming):
    """GET shows the confirmation (free: more than a day ahead) and changes nothing."""
    response = client_sme.get(reverse("bookings:cancel", args=[upcoming.pk]))
    assert response.status_code == 200
    assert response.context["fee"] == 0 and b"Cancelling now is free" in response.content
    assert b"Yes, cancel the booking" in response.content
    upcoming.refresh_from_db()
    assert upcoming.status == Booking.Status.CONFIRMED


def test_cancel_confirmation_states_the_late_fee(client_sme, equipment, sme, admin_user):
    from django.utils import timezone

    start = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 30)
    soon = make_booking(equipment, sme, start, start + timedelta(hours=2), user=admin_user,
                        price=Decimal("801.00"))
    response = client_sme.get(reverse("bookings:cancel", args=[soon.pk]))
    assert response.context["fee"] == Decimal("400.50")  # half, to the fen
    assert "¥400.50".encode() in response.content
    assert b"late-cancellation fee" in response.content
    assert Booking.objects.get(pk=soon.pk).status == Booking.Status.CONFIRMED


def test_cancel_confirmation_of_another_smes_booking_is_404(client_other, upcoming):
    assert client_other.get(reverse("bookings:cancel", args=[upcoming.pk])).status_code == 404


def test_upcoming_leaves_out_cancelled_and_rejected(client_sme, upcoming, equipment, sme,
                                                    admin_user):
    cancelled = make_booking(equipment, sme, local(4, 9), local(4, 10), user=admin_user,
                             status=Booking.Status.CANCELLED)
    rejected = make_booking(equipment, sme, local(5, 9), local(5, 10), user=admin_user,
                            status=Booking.Status.REJECTED)
    requested = make_booking(equipment, sme, local(6, 9), local(6, 10), user=admin_user,
                             status=Booking.Status.REQUESTED)
    now = client_sme.get(reverse("bookings:list"))
    assert [b.pk for b in now.context["page"].object_list] == [upcoming.pk, requested.pk]
    past = client_sme.get(reverse("bookings:list"), {"when": "past"})
    assert {b.pk for b in past.context["page"].object_list} == {cancelled.pk, rejected.pk}
    assert b"Past and cancelled" in past.content


def parse(response):
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert 'booking-' in response["Content-Disposition"]
    return Calendar.from_ical(response.content).walk("VEVENT")[0]


def test_ics_round_trips_times_and_zone(client_sme, upcoming):
    event = parse(client_sme.get(reverse("bookings:ics", args=[upcoming.pk])))
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start == upcoming.start and end == upcoming.end
    assert start.tzinfo == ZoneInfo("Asia/Shanghai") and start.hour == 9
    assert str(event["status"]) == "CONFIRMED"
    assert event["uid"] == f"booking-{upcoming.pk}@testbed"
    assert "DMU 50" in str(event["summary"]) and str(event["description"]) == "Face milling"
    assert str(event["url"]).endswith(reverse("bookings:detail", args=[upcoming.pk]))


def test_ics_of_a_cancelled_booking(client_sme, upcoming, sme):
    services.cancel_booking(booking_id=upcoming.pk, organization=sme)
    event = parse(client_sme.get(reverse("bookings:ics", args=[upcoming.pk])))
    assert str(event["status"]) == "CANCELLED" and event.decoded("sequence") == 1
    assert Calendar.from_ical(
        client_sme.get(reverse("bookings:ics", args=[upcoming.pk])).content
    ).walk("VTIMEZONE")[0]["tzid"] == "Asia/Shanghai"
