"""The admin console holds no rule of its own: endpoints and calendar feeds are made and
changed through their services, bulk deletion is gone, and the records the application
writes are read-only there."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import Booking, BookingEvent, CalendarFeed
from core import webhooks
from core.models import DeliveryLog, IdempotencyKey, OutboxMessage, WebhookEndpoint
from tests.factories import WebhookEndpointFactory
from tests.fixtures.world import local

pytestmark = pytest.mark.django_db

RECORDS = [Booking, BookingEvent, OutboxMessage, DeliveryLog, IdempotencyKey]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def disabled_endpoint(operator):
    return WebhookEndpointFactory(
        organization=operator, url="https://hooks.example/in", active=False,
        consecutive_failures=10,
        disabled_at=timezone.now(), disabled_reason="10 deliveries in a row failed")


def test_reenabling_an_endpoint_in_the_admin_resets_its_failure_count(admin_client,
                                                                      disabled_endpoint):
    response = admin_client.post(url(WebhookEndpoint, "change", disabled_endpoint.pk), {
        "url": disabled_endpoint.url, "description": "", "event_types": '["booking.*"]',
        "active": "on", "_save": "Save"})
    assert response.status_code == 302, response.content[:800]
    disabled_endpoint.refresh_from_db()
    assert disabled_endpoint.active is True
    assert disabled_endpoint.consecutive_failures == 0
    assert (disabled_endpoint.disabled_at, disabled_endpoint.disabled_reason) == (None, "")


def test_the_admin_enable_action_resets_the_failure_count(admin_client, disabled_endpoint):
    response = admin_client.post(url(WebhookEndpoint, "changelist"), {
        "action": "enable", "_selected_action": [disabled_endpoint.pk]})
    assert response.status_code == 302
    disabled_endpoint.refresh_from_db()
    assert disabled_endpoint.active is True and disabled_endpoint.consecutive_failures == 0


def test_endpoint_created_in_the_admin_gets_its_secret_from_the_service(admin_client, operator):
    response = admin_client.post(url(WebhookEndpoint, "add"), {
        "organization": operator.pk, "url": "https://hooks.example/new", "description": "",
        "event_types": '["booking.*"]', "active": "on", "_save": "Save"})
    assert response.status_code == 302, response.content[:800]
    endpoint = WebhookEndpoint.objects.get(url="https://hooks.example/new")
    assert endpoint.secret.startswith(webhooks.SECRET_PREFIX)
    shown = admin_client.get(response["Location"])  # the message, shown once
    assert endpoint.secret.encode() in shown.content
    page = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))
    assert endpoint.secret.encode() not in page.content  # and not again


def test_calendar_feed_created_in_the_admin_through_the_service(admin_client, operator,
                                                                 equipment):
    response = admin_client.post(url(CalendarFeed, "add"), {
        "organization": operator.pk, "equipment": equipment.pk, "name": "CNC-1",
        "_save": "Save"})
    assert response.status_code == 302, response.content[:800]
    feed = CalendarFeed.objects.get(name="CNC-1")
    assert len(feed.token) >= 40
    assert any(f"/calendar/{feed.token}.ics" in m for m in messages_of(response))


def test_calendar_feed_rules_hold_in_the_admin(admin_client, sme, equipment):
    """An equipment feed is for the equipment's operator: the service says so, in the
    admin too."""
    response = admin_client.post(url(CalendarFeed, "add"), {
        "organization": sme.pk, "equipment": equipment.pk, "name": "not mine",
        "_save": "Save"})
    assert response.status_code == 302
    assert not CalendarFeed.objects.exists()
    assert messages_of(response) == ["Equipment feeds are for the equipment's operator."]


@pytest.fixture
def booking(equipment, sme):
    return booking_services.create_booking(equipment_id=equipment.pk, organization=sme,
                                           start=local(2, 9), end=local(2, 11), purpose="trial")


def test_bulk_delete_is_not_offered_for_bookings(admin_client, booking):
    page = admin_client.get(url(Booking, "changelist"))
    assert page.status_code == 200
    actions = [name for name, _label in page.context["action_form"].fields["action"].choices]
    assert actions == ["", "approve", "reject", "cancel"]  # no "delete_selected"
    response = admin_client.post(url(Booking, "changelist"), {
        "action": "delete_selected", "_selected_action": [booking.pk], "post": "yes"})
    assert Booking.objects.filter(pk=booking.pk).exists()
    assert response.status_code == 302  # back to the list: no such action, nothing deleted


@pytest.mark.parametrize("model", RECORDS, ids=lambda m: m.__name__)
def test_records_the_application_writes_are_read_only(admin_client, admin_user, rf, model,
                                                      booking):
    from django.contrib import admin

    model_admin = admin.site._registry[model]
    request = rf.get("/admin/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_booking_cannot_be_edited_or_deleted_in_the_admin(admin_client, booking):
    response = admin_client.post(url(Booking, "change", booking.pk), {"purpose": "changed"})
    assert response.status_code == 403
    assert admin_client.post(url(Booking, "delete", booking.pk), {"post": "yes"}).status_code \
        == 403
    booking.refresh_from_db()
    assert booking.purpose == "trial"


def test_the_admin_cancel_action_goes_through_the_service(admin_client, booking, operator,
                                                          admin_user):
    response = admin_client.post(url(Booking, "changelist"), {
        "action": "cancel", "_selected_action": [booking.pk]})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    event = booking.events.last()
    assert (event.code, event.actor_organization, event.actor_user) == (
        "booking.cancelled", operator, admin_user)


def test_the_per_request_decision_goes_through_the_service(admin_client, equipment, sme,
                                                           operator, admin_user):
    """Approve/reject one request with a reason: the booking service, as the hub's
    operator, with the staff user and the reason in the history; the service's rules hold
    (a confirmed booking cannot be rejected)."""
    from tests.factories import BookingFactory

    booking = BookingFactory(equipment=equipment, organization=sme,
                             status=Booking.Status.REQUESTED)
    response = admin_client.post(url(Booking, "approve", booking.pk),
                                 {"reason": "Checked with the hub"})
    assert response.status_code == 302
    booking.refresh_from_db()
    event = booking.events.last()
    assert (booking.status, event.code, event.reason, event.actor_organization,
            event.actor_user) == ("confirmed", "booking.confirmed", "Checked with the hub",
                                  operator, admin_user)
    response = admin_client.post(url(Booking, "reject", booking.pk), {"reason": "Too late"})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.events.count() == 1


def test_verifying_and_refusing_go_through_the_service(admin_client, admin_user,
                                                        django_capture_on_commit_callbacks):
    from django.contrib import admin

    from organizations.models import Membership, Organization
    from tests.factories import MembershipFactory, OrganizationFactory

    refused, verified = OrganizationFactory(verified=False), OrganizationFactory(verified=False)
    for org in (refused, verified):
        MembershipFactory(organization=org, role=Membership.Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url(Organization, "refuse", refused.pk), {"reason": "Unknown code"})
        admin_client.post(url(Organization, "verify", verified.pk))
    # A direct edit of ``verified`` is not possible: it is read-only on the change page.
    assert "verified" in admin.site._registry[Organization].get_readonly_fields(None, refused)
    assert (Organization.objects.get(pk=refused.pk).verified,
            Organization.objects.get(pk=verified.pk).verified) == (False, True)
    assert sorted(OutboxMessage.objects.values_list("event_type", "status")) == [
        ("organization.refused", "sent"), ("organization.verified", "sent")]
