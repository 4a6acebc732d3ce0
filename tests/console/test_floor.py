"""The console's floor: the operator's day through the booking and equipment services.

AutoWorks (the shared world's operator) runs the Yizhuang hub with the DMU 50; PhoneTech
(``other_operator``) runs Shunyi with the Other CNC. ``console_member`` is AutoWorks'
operator-role member, ``seats["other_flagship"]`` PhoneTech's admin."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking, BookingEvent
from equipment.models import MaintenanceWindow
from organizations.auth import landing_page
from tests.factories import HubFactory, MaintenanceWindowFactory
from tests.fixtures.world import local, make_booking, make_equipment

pytestmark = pytest.mark.django_db
S = Booking.Status


def _minute(delta: timedelta) -> datetime:
    return timezone.now().replace(second=0, microsecond=0) + delta


def _events(booking: Booking) -> list[BookingEvent]:
    return list(booking.events.order_by("pk"))


def _field_errors(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errors" id="{field_id}_errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


# --- the queue: approve and reject with a reason ------------------------------------------


def test_approve_with_a_reason_confirms_and_writes_the_reason_in_the_history(
    console_member, operator_member, equipment, sme
):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    response = console_member.post(
        reverse("console:approve", args=[booking.pk]),
        {"reason": "Bring your own fixtures.", "next": reverse("console:requests")},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:requests")
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED
    assert booking.decision_reason == "Bring your own fixtures."
    assert booking.decided_by == operator_member
    last = _events(booking)[-1]
    assert (last.to_status, last.reason, last.actor_user) == (
        S.CONFIRMED,
        "Bring your own fixtures.",
        operator_member,
    )
    page = console_member.get(reverse("console:booking", args=[booking.pk])).content.decode()
    assert "Bring your own fixtures." in page


def test_a_second_approve_changes_nothing_and_says_so(console_member, equipment, sme):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    url = reverse("console:approve", args=[booking.pk])
    console_member.post(url, {"reason": ""})
    events = len(_events(booking))
    response = console_member.post(url, {"reason": ""}, follow=True)
    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert len(_events(booking)) == events
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED


def test_reject_without_a_reason_is_refused_at_the_field_and_changes_nothing(
    console_member, equipment, sme
):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    events = len(_events(booking))
    response = console_member.post(reverse("console:reject", args=[booking.pk]), {"reason": "   "})
    assert response.status_code == 200
    errors = _field_errors(response.content.decode(), "id_reason")
    assert "Give the reason for rejecting" in errors
    booking.refresh_from_db()
    assert booking.status == S.REQUESTED
    assert booking.decision_reason == ""
    assert len(_events(booking)) == events


def test_reject_with_a_reason_rejects_and_records_it(
    console_member, operator_member, equipment, sme
):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    response = console_member.post(
        reverse("console:reject", args=[booking.pk]), {"reason": "Reserved for a customer audit."}
    )
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == S.REJECTED
    last = _events(booking)[-1]
    assert (last.to_status, last.reason, last.actor_user) == (
        S.REJECTED,
        "Reserved for a customer audit.",
        operator_member,
    )


def test_the_queue_lists_requests_oldest_first_with_purpose_sme_and_lead(
    console_member, equipment, sme, other_sme, other_equipment
):
    newer = make_booking(
        equipment,
        sme,
        local(2, 10),
        local(2, 12),
        status=S.REQUESTED,
        purpose="Newer: aluminium housings",
    )
    older = make_booking(
        equipment,
        other_sme,
        local(3, 10),
        local(3, 12),
        status=S.REQUESTED,
        purpose="Older: titanium brackets",
    )
    elsewhere = make_booking(
        other_equipment,
        sme,
        local(2, 10),
        local(2, 12),
        status=S.REQUESTED,
        purpose="PhoneTech's request",
    )
    Booking.objects.filter(pk=older.pk).update(created=timezone.now() - timedelta(days=2))
    page = console_member.get(reverse("console:requests")).content.decode()
    assert page.index("Older: titanium brackets") < page.index("Newer: aluminium housings")
    assert "Green Motor" in page and "Precision Parts" in page
    assert elsewhere.purpose not in page
    assert reverse("console:reject", args=[newer.pk]) in page


def test_another_operators_booking_is_not_found(seats, equipment, sme):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    other = seats["other_flagship"]
    assert other.get(reverse("console:booking", args=[booking.pk])).status_code == 404
    response = other.post(reverse("console:approve", args=[booking.pk]), {"reason": "x"})
    assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.status == S.REQUESTED


# --- at the machine: check-in, complete, no-show --------------------------------------------


def test_check_in_and_complete_through_the_services(
    console_member, operator_member, equipment, sme
):
    booking = make_booking(
        equipment, sme, _minute(timedelta(minutes=10)), _minute(timedelta(hours=2))
    )
    response = console_member.post(reverse("console:check_in", args=[booking.pk]))
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == S.CHECKED_IN and booking.checked_in_at is not None
    assert _events(booking)[-1].actor_user == operator_member
    # Completion comes only after the start: the service's refusal, in its own words.
    response = console_member.post(reverse("console:complete", args=[booking.pk]), follow=True)
    assert "only after its start" in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == S.CHECKED_IN
    Booking.objects.filter(pk=booking.pk).update(start=_minute(-timedelta(minutes=5)))
    console_member.post(reverse("console:complete", args=[booking.pk]), {"reason": "Done."})
    booking.refresh_from_db()
    assert booking.status == S.COMPLETED and booking.completed_at is not None
    assert _events(booking)[-1].reason == "Done."


def test_check_in_before_it_opens_is_refused_and_changes_nothing(console_member, equipment, sme):
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12))
    response = console_member.post(reverse("console:check_in", args=[booking.pk]), follow=True)
    assert "Check-in opens 30 minutes before the start." in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED


def test_no_show_only_after_the_grace(console_member, operator, equipment, sme, settings):
    settings.BOOKING_NO_SHOW_GRACE_MINUTES = 15
    booking = make_booking(
        equipment, sme, _minute(-timedelta(minutes=5)), _minute(timedelta(hours=1))
    )
    response = console_member.post(reverse("console:no_show", args=[booking.pk]), follow=True)
    assert "only 15 minutes after its start" in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED
    Booking.objects.filter(pk=booking.pk).update(start=_minute(-timedelta(minutes=20)))
    console_member.post(reverse("console:no_show", args=[booking.pk]))
    booking.refresh_from_db()
    assert booking.status == S.NO_SHOW
    assert _events(booking)[-1].actor_organization == operator


def test_the_no_shows_page_lists_overdue_arrivals_of_the_operators_hubs_only(
    console_member, equipment, other_equipment, sme, other_sme
):
    overdue = make_booking(
        equipment, sme, _minute(-timedelta(hours=1)), _minute(timedelta(hours=1))
    )
    coming = make_booking(
        equipment, other_sme, _minute(timedelta(hours=2)), _minute(timedelta(hours=3))
    )
    elsewhere = make_booking(
        other_equipment, sme, _minute(-timedelta(hours=1)), _minute(timedelta(hours=1))
    )
    page = console_member.get(reverse("console:no_shows")).content.decode()
    assert reverse("console:no_show", args=[overdue.pk]) in page
    assert reverse("console:check_in", args=[overdue.pk]) in page  # a late arrival
    assert f"#{coming.pk}<" not in page
    assert f"#{elsewhere.pk}<" not in page


def test_today_shows_waiting_requests_arrivals_with_check_in_and_running_trials(
    console_member, equipment, sme, other_sme
):
    requested = make_booking(equipment, sme, local(3, 10), local(3, 12), status=S.REQUESTED)
    arriving = make_booking(
        equipment, other_sme, _minute(timedelta(minutes=10)), _minute(timedelta(minutes=70))
    )
    running = make_booking(
        equipment,
        sme,
        _minute(-timedelta(hours=3)),
        _minute(-timedelta(hours=2)),
        status=S.CHECKED_IN,
    )
    response = console_member.get(reverse("console:home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert reverse("console:booking", args=[requested.pk]) in page
    assert reverse("console:check_in", args=[arriving.pk]) in page
    assert reverse("console:complete", args=[running.pk]) in page
    assert f'href="{reverse("console:home")}" aria-current="page"' in page


# --- maintenance: preview, then confirm -----------------------------------------------------


def _window_form(equipment, start, end, **extra) -> dict:
    return {
        "equipment": equipment.pk,
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": end.strftime("%Y-%m-%dT%H:%M"),
        "reason": "Spindle service",
        **extra,
    }


def test_maintenance_preview_lists_exactly_what_it_cancels_and_saves_only_on_confirm(
    console_member, equipment, sme, other_sme
):
    inside = make_booking(equipment, sme, local(5, 9), local(5, 11))
    requested = make_booking(equipment, other_sme, local(5, 12), local(5, 13), status=S.REQUESTED)
    outside = make_booking(equipment, sme, local(5, 15), local(5, 17))
    cancelled = make_booking(equipment, other_sme, local(5, 10), local(5, 11), status=S.CANCELLED)
    data = _window_form(equipment, local(5, 8), local(5, 14))
    preview = console_member.post(reverse("console:maintenance"), data)
    assert preview.status_code == 200
    listed = set(re.findall(r'href="/console/bookings/(\d+)/"', preview.content.decode()))
    assert listed == {str(inside.pk), str(requested.pk)}
    assert not MaintenanceWindow.objects.exists()
    assert set(Booking.objects.values_list("status", flat=True)) == {
        S.CONFIRMED,
        S.REQUESTED,
        S.CANCELLED,
    }

    response = console_member.post(reverse("console:maintenance"), {**data, "confirm": "1"})
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert (window.start, window.end) == (local(5, 8), local(5, 14))  # hub wall-clock times
    statuses = dict(Booking.objects.values_list("pk", "status"))
    assert statuses == {
        inside.pk: S.CANCELLED,
        requested.pk: S.CANCELLED,
        outside.pk: S.CONFIRMED,
        cancelled.pk: S.CANCELLED,
    }
    # A second confirm (a double submit) plans nothing more.
    console_member.post(reverse("console:maintenance"), {**data, "confirm": "1"})
    assert MaintenanceWindow.objects.count() == 1


def test_maintenance_over_a_trial_in_progress_is_refused_before_the_preview(
    console_member, equipment, sme
):
    make_booking(
        equipment,
        sme,
        _minute(-timedelta(hours=1)),
        _minute(timedelta(hours=1)),
        status=S.CHECKED_IN,
    )
    tz = ZoneInfo(equipment.hub.timezone)
    data = _window_form(
        equipment, _minute(timedelta(0)).astimezone(tz), _minute(timedelta(hours=2)).astimezone(tz)
    )
    response = console_member.post(reverse("console:maintenance"), data)
    assert response.status_code == 200
    assert "checked in (a trial in progress)" in response.content.decode()
    response = console_member.post(reverse("console:maintenance"), {**data, "confirm": "1"})
    assert "checked in (a trial in progress)" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_other_operators_equipment_cannot_be_chosen_and_windows_not_removed(
    seats, console_member, equipment, other_equipment
):
    other = seats["other_flagship"]
    response = other.post(
        reverse("console:maintenance"),
        _window_form(equipment, local(5, 8), local(5, 10), confirm="1"),
    )
    assert response.status_code == 200
    assert _field_errors(response.content.decode(), "id_equipment")
    assert not MaintenanceWindow.objects.exists()
    window = MaintenanceWindowFactory(equipment=equipment, start=local(3, 8), end=local(3, 10))
    delete = reverse("console:maintenance_delete", args=[window.pk])
    assert other.post(delete).status_code == 404
    assert MaintenanceWindow.objects.filter(pk=window.pk).exists()
    assert console_member.post(delete).status_code == 302
    assert not MaintenanceWindow.objects.filter(pk=window.pk).exists()


# --- the timeline ---------------------------------------------------------------------------


def test_the_timeline_shows_each_hub_in_its_time_zone_and_not_another_operators(
    console_member, operator, category, equipment, other_equipment, sme, other_sme
):
    berlin = HubFactory(
        operator=operator, name="Berlin Hub", slug="berlin", timezone="Europe/Berlin"
    )
    press = make_equipment(berlin, category, "press-1", name="Press")
    tz = ZoneInfo("Europe/Berlin")
    day = (timezone.now() + timedelta(days=2)).astimezone(tz).date()
    at_berlin = make_booking(
        press,
        sme,
        datetime(day.year, day.month, day.day, 9, tzinfo=tz),
        datetime(day.year, day.month, day.day, 11, tzinfo=tz),
    )
    mine = make_booking(equipment, sme, local(2, 14), local(2, 16))
    theirs = make_booking(other_equipment, other_sme, local(2, 14), local(2, 16))
    MaintenanceWindowFactory(
        equipment=press,
        reason="Hydraulics check",
        start=datetime(day.year, day.month, day.day, 13, tzinfo=tz),
        end=datetime(day.year, day.month, day.day, 15, tzinfo=tz),
    )
    response = console_member.get(
        reverse("console:timeline"), {"view": "day", "date": day.isoformat()}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "09:00–11:00 Precision Parts" in page  # Berlin wall-clock time
    assert reverse("console:booking", args=[at_berlin.pk]) in page
    assert "Hydraulics check" in page
    assert reverse("console:booking", args=[theirs.pk]) not in page
    # The Yizhuang hub in Shanghai time, in the week view too.
    week = console_member.get(
        reverse("console:timeline"),
        {"view": "week", "date": local(0, 0).date().isoformat(), "hub": "yizhuang"},
    ).content.decode()
    assert "14:00–16:00 · Confirmed" in week  # Shanghai wall-clock time
    assert reverse("console:booking", args=[mine.pk]) in week
    assert reverse("console:booking", args=[at_berlin.pk]) not in week


def test_the_timeline_takes_any_date_without_failing(console_member, equipment):
    for value in ("0001-01-01", "9999-12-31", "yesterday", ""):
        response = console_member.get(reverse("console:timeline"), {"date": value, "view": "week"})
        assert response.status_code == 200, value


def test_pages_render_in_chinese(console_member, equipment, sme):
    make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    console_member.cookies.load({"django_language": "zh-hans"})
    for name in (
        "console:home",
        "console:timeline",
        "console:requests",
        "console:no_shows",
        "console:maintenance",
    ):
        response = console_member.get(reverse(name), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, name
        assert 'lang="zh-hans"' in response.content.decode(), name


# --- landing after login ----------------------------------------------------------------------


def test_flagship_members_land_on_the_console(operator_member, sme):
    from organizations.models import Membership
    from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

    request = RequestFactory().get("/")
    request.user = operator_member
    assert landing_page(request) == reverse("console:home")
    sme_user = MembershipFactory(
        organization=sme, role=Membership.Role.ADMIN, user=UserFactory(email="x@precision.test")
    ).user
    request = RequestFactory().get("/")
    request.user = sme_user
    assert landing_page(request) is None
    university_user = MembershipFactory(
        organization=OrganizationFactory(university=True), role=Membership.Role.ADMIN,
        user=UserFactory(email="dean@uni.test")).user
    request = RequestFactory().get("/")
    request.user = university_user
    assert landing_page(request) == reverse("console:datasets")


def test_an_operator_logs_in_to_the_console(client, operator_member):
    operator_member.set_password("a-long-demo-password")
    operator_member.save()
    EmailAddress.objects.update_or_create(
        user=operator_member,
        email=operator_member.email,
        defaults={"verified": True, "primary": True},
    )
    response = client.post(
        reverse("account_login"),
        {"login": operator_member.email, "password": "a-long-demo-password"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")
