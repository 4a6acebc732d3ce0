"""A reason the platform writes into a booking's history (a no-show, a lapsed request, a
maintenance window, equipment going down, the machine checking a booking in, a bulk
action in the admin console) is catalogued (``core.reasons``): stored with its code and
parameters beside its English text, and shown to every reader in their language — the
portal, the console, the API (Accept-Language), the e-mail's two parts — while webhooks
and the evidence bundle keep the English text beside the code. A reason a person typed is
stored and shown as typed, in every language."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse
from django.utils import translation

from bookings import services
from bookings.models import Booking, BookingEvent
from bookings.tasks import expire_requests, mark_no_shows
from core import reasons
from equipment import services as equipment_services
from organizations.models import Membership
from tests.factories import MembershipFactory, UserFactory, WebhookEndpointFactory
from tests.fixtures.world import local, make_booking, make_equipment

pytestmark = pytest.mark.django_db

ZH = "zh-hans"


def shown_in(event: BookingEvent, language: str) -> str:
    with translation.override(language):
        return event.reason_shown


def assert_catalogued(event: BookingEvent, code: str, args, english: str, chinese: str):
    assert (event.reason_code, event.reason_args, event.reason) == (code, args, english)
    assert shown_in(event, "en") == english
    assert shown_in(event, ZH) == chinese


def last_event(booking: Booking) -> BookingEvent:
    return BookingEvent.objects.filter(booking=booking).order_by("at", "pk").last()


def user_of(org, email: str, role=Membership.Role.ADMIN):
    return MembershipFactory(organization=org, role=role, user=UserFactory(email=email)).user


def logged_in(user, language: str = "en") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


# --- each writer catalogues its reason ------------------------------------------------------

def test_a_no_show_says_why_in_each_language(equipment, sme):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 12), purpose="x")
    with time_machine.travel(booking.start + timedelta(minutes=20), tick=True):
        assert mark_no_shows() == 1
    assert_catalogued(last_event(booking), "no_check_in", {"minutes": 15},
                      "No check-in within 15 minutes of the start.", "开始后 15 分钟内未签到。")


def test_a_lapsed_request_says_why_in_each_language(hub, category, sme):
    equipment = make_equipment(hub, category, "needs-ok", approval_required=True)
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    with time_machine.travel(booking.start + timedelta(minutes=1), tick=True):
        assert expire_requests() == 1
    assert_catalogued(last_event(booking), "not_approved_in_time", None,
                      "Not approved before its start.", "开始前未获批准。")


def test_maintenance_keeps_the_operators_words_inside_the_catalogued_text(equipment, sme,
                                                                        operator):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    equipment_services.create_maintenance_window(
        equipment=equipment, by=operator, start=local(2, 8), end=local(2, 12),
        reason="更换主轴轴承")
    assert_catalogued(last_event(booking), "maintenance", {"reason": "更换主轴轴承"},
                      "Maintenance: 更换主轴轴承", "维护：更换主轴轴承")


@pytest.mark.parametrize(("status", "code", "english", "chinese"), [
    ("down", "equipment_down", "Equipment is down.", "设备停机。"),
    ("retired", "equipment_retired", "Equipment is retired.", "设备已退役。"),
])
def test_equipment_going_down_or_retired_says_so_in_each_language(equipment, sme, operator,
                                                                  status, code, english,
                                                                  chinese):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    equipment_services.update_equipment(equipment=equipment, by=operator,
                                        data={"status": status})
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert_catalogued(last_event(booking), code, None, english, chinese)


def test_the_machine_checking_a_booking_in_says_so_in_each_language(equipment, hub, sme):
    hub.auto_check_in = True
    hub.save(update_fields=["auto_check_in"])
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    with time_machine.travel(booking.start + timedelta(minutes=5), tick=True):
        services.auto_check_in(booking_id=booking.pk)
    assert_catalogued(last_event(booking), "checked_in_by_machine", None,
                      "Checked in automatically: the machine became active.",
                      "已自动签到：设备开始运行。")


@pytest.mark.parametrize(("action", "status", "code", "english", "chinese"), [
    ("approve", Booking.Status.CONFIRMED, "approved_in_admin",
     "Approved in the admin console by {user}", "由 {user} 在管理后台批准"),
    ("reject", Booking.Status.REJECTED, "rejected_in_admin",
     "Rejected in the admin console by {user}", "由 {user} 在管理后台拒绝"),
])
def test_a_bulk_decision_in_the_admin_is_in_the_history_not_the_operators_reason(
        admin_client, admin_user, hub, category, sme, action, status, code, english,
        chinese):
    """The booking's decision reason is what a person wrote; a bulk action wrote none.
    Its history names the staff member, in the reader's language."""
    equipment = make_equipment(hub, category, "needs-ok", approval_required=True)
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    response = admin_client.post(reverse("admin:bookings_booking_changelist"),
                                 {"action": action, "_selected_action": [booking.pk]})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert (booking.status, booking.decision_reason, booking.decided_by) == (
        status, "", admin_user)
    user = str(admin_user)
    assert_catalogued(last_event(booking), code, {"user": user}, english.format(user=user),
                      chinese.format(user=user))


def test_a_typed_reason_is_stored_and_shown_as_typed(equipment, sme):
    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(2, 9), end=local(2, 11), purpose="x")
    services.cancel_booking(booking_id=booking.pk, organization=sme,
                            reason="Maintenance: our fixture is not ready")
    event = last_event(booking)
    assert (event.reason_code, event.reason_args) == ("", None)
    assert shown_in(event, ZH) == shown_in(event, "en") == "Maintenance: our fixture is not ready"
    from tests.fixtures.world import key_client

    shown = key_client(sme).get(f"/api/v1/bookings/{booking.pk}/",
                                HTTP_ACCEPT_LANGUAGE="zh-Hans").json()
    assert (shown["cancellation_reason"], shown["cancellation_reason_code"]) == (
        "Maintenance: our fixture is not ready", None)


# --- every door shows it in its reader's language ----------------------------------------

@pytest.fixture
def cancelled(equipment, sme, operator, receiver, django_capture_on_commit_callbacks):
    """An SME's booking cancelled by a maintenance window, its e-mails and webhook sent."""
    WebhookEndpointFactory(organization=operator, url=receiver.url, event_types=["booking.*"])
    lead = user_of(sme, "lead@sme.example")
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                          start=local(2, 9), end=local(2, 11), purpose="x",
                                          by_user=lead)
    with django_capture_on_commit_callbacks(execute=True):
        equipment_services.create_maintenance_window(
            equipment=equipment, by=operator, start=local(2, 8), end=local(2, 12),
            reason="spindle bearings")
    booking.lead = lead
    return booking


EN_TEXT, ZH_TEXT = "Maintenance: spindle bearings", "维护：spindle bearings"


@pytest.mark.parametrize(("language", "text", "other"), [("en", EN_TEXT, ZH_TEXT),
                                                         (ZH, ZH_TEXT, EN_TEXT)])
def test_the_portal_and_the_console_show_it_in_the_pages_language(cancelled, operator,
                                                                  language, text, other):
    portal = logged_in(cancelled.lead, language).get(
        reverse("bookings:detail", args=[cancelled.pk]))
    ops = user_of(operator, "ops@op.example", Membership.Role.OPERATOR)
    console = logged_in(ops, language).get(reverse("console:booking", args=[cancelled.pk]))
    for response in (portal, console):
        page = response.content.decode()
        assert response.status_code == 200
        assert text in page and other not in page


@pytest.mark.parametrize(("language", "text", "other"), [("en", EN_TEXT, ZH_TEXT),
                                                         (ZH, ZH_TEXT, EN_TEXT)])
def test_the_admin_console_shows_it_in_its_language(cancelled, admin_client, language, text,
                                                    other):
    admin_client.cookies["django_language"] = language
    event = last_event(cancelled)
    for url in (reverse("admin:bookings_booking_change", args=[cancelled.pk]),
                reverse("admin:bookings_bookingevent_change", args=[event.pk])):
        response = admin_client.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        assert text in page and other not in page


@pytest.mark.parametrize(("accept", "text"), [(None, EN_TEXT), ("zh-Hans", ZH_TEXT)])
def test_the_api_answers_in_the_requests_language_with_the_code(cancelled, sme,
                                                                operator_client, accept, text):
    from tests.fixtures.world import key_client

    client = key_client(sme)
    headers = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    feed = client.get("/api/v1/events/", **headers).json()["results"]
    assert [(e["event"], e["reason"], e["reason_code"]) for e in feed] == [
        ("booking.confirmed", "", None), ("booking.cancelled", text, "maintenance")]
    # The operator's feed says the same.
    assert operator_client.get("/api/v1/events/", **headers).json()["results"] == feed
    # The booking's cancellation reason: its page (the list reads it in the same query as
    # the bookings; SQLite hands the parameters back as JSON text) and its detail.
    (listed,) = client.get("/api/v1/bookings/", **headers).json()["results"]
    detail = client.get(f"/api/v1/bookings/{cancelled.pk}/", **headers).json()
    assert listed["cancellation_reason"] == detail["cancellation_reason"] == text
    assert listed["cancellation_reason_code"] == detail["cancellation_reason_code"] == (
        "maintenance")


def test_the_email_says_it_in_both_parts_and_the_webhook_keeps_english_and_the_code(
        cancelled, receiver):
    (email,) = [m for m in mail.outbox if m.extra_headers["X-Testbed-Event"]
                == "booking.cancelled" and m.to == ["lead@sme.example"]]
    parts = email.body.split("————————")
    (english,) = [p for p in parts if "Equipment:" in p]
    (chinese,) = [p for p in parts if "设备:" in p]
    assert f"Reason: {EN_TEXT}" in english and ZH_TEXT not in english
    assert f"原因: {ZH_TEXT}" in chinese and EN_TEXT not in chinese
    (hook,) = [json.loads(m["body"]) for m in receiver.received
               if '"type":"booking.cancelled"' in m["body"]]
    assert (hook["data"]["reason"], hook["data"]["reason_code"]) == (EN_TEXT, "maintenance")


# --- the catalogue ---------------------------------------------------------------------------

def test_a_record_whose_code_or_parameters_the_catalogue_no_longer_knows_shows_its_text():
    assert reasons.shown("", None, "typed") == "typed"
    assert reasons.shown("retired_code", {}, "as stored") == "as stored"
    assert reasons.shown("no_check_in", {"mins": 15}, "as stored") == "as stored"
    with pytest.raises(ValueError, match="defined twice"):
        reasons.define("no_check_in", "again")


# --- existing history is catalogued by the migration -------------------------------------

OLD_TEXTS = {
    "No check-in within 30 minutes of the start.": ("no_check_in", {"minutes": 30}),
    "Not approved before its start.": ("not_approved_in_time", None),
    "Checked in automatically: the machine became active.": ("checked_in_by_machine", None),
    "Equipment is down.": ("equipment_down", None),
    "Equipment is retired.": ("equipment_retired", None),
    "Maintenance: coolant\nand filters": ("maintenance", {"reason": "coolant\nand filters"}),
    "Approved in the admin console by staff": ("approved_in_admin", {"user": "staff"}),
    "Cancelled in the admin console by staff": ("cancelled_in_admin", {"user": "staff"}),
    "No check-in within the hour, sorry": ("", None),  # typed: left as typed
    "plan changed": ("", None),
}


@pytest.mark.django_db(transaction=True)
def test_the_migration_catalogues_the_reasons_earlier_releases_wrote(equipment, sme):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 11),
                           decision_reason="Approved in the admin console by staff")
    typed = make_booking(equipment, sme, local(3, 9), local(3, 11),
                         decision_reason="Approved after a call with the admin console team")
    before = [("bookings", "0013_booking_operator_index")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = MigrationExecutor(connection).loader.project_state(before).apps
        events = old.get_model("bookings", "BookingEvent")
        for text in OLD_TEXTS:
            events.objects.create(booking_id=booking.pk, organization_id=sme.pk,
                                  operator_id=booking.operator_id, code="booking.cancelled",
                                  to_status="cancelled", reason=text, at=local(1, 0))
        events.objects.create(booking_id=booking.pk, organization_id=sme.pk,
                              operator_id=booking.operator_id, code="booking.confirmed",
                              to_status="confirmed", at=local(1, 1),
                              reason="Approved in the admin console by staff")
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
    finally:
        executor.migrate(MigrationLoader(connection).graph.leaf_nodes())
    found = {e.reason: (e.reason_code, e.reason_args)
             for e in BookingEvent.objects.filter(reason__in=OLD_TEXTS)}
    assert found == OLD_TEXTS
    booking.refresh_from_db()
    typed.refresh_from_db()
    assert booking.decision_reason == ""
    assert typed.decision_reason == "Approved after a call with the admin console team"
    # Backwards (0015 undone): the bulk decision's text is the decision reason again.
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("bookings", "0014_event_reason_code")])
        restored = Booking.objects.values_list("decision_reason", flat=True).get(pk=booking.pk)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(MigrationLoader(connection).graph.leaf_nodes())
    assert restored == "Approved in the admin console by staff"
