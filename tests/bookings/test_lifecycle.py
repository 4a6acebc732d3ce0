"""Lifecycle transitions: who may do what, when; every change leaves a BookingEvent."""

from datetime import timedelta

import pytest

from bookings import services
from bookings.models import Booking
from core.errors import Conflict, Forbidden, NotFound
from equipment import services as equipment_services
from tests.fixtures.world import local, make_equipment

pytestmark = pytest.mark.django_db
S = Booking.Status


@pytest.fixture
def requested(hub, category, sme):
    eq = make_equipment(hub, category, "approve-me", approval_required=True)
    return services.create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 9),
                                   end=local(2, 11), purpose="trial")


@pytest.fixture
def confirmed(equipment, sme):
    return services.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(2, 9), end=local(2, 11), purpose="trial")


def test_approve_records_decision_and_event(requested, operator):
    booking = services.approve_booking(booking_id=requested.pk, organization=operator,
                                       reason="plan looks fine")
    assert booking.status == S.CONFIRMED
    assert booking.decided_at is not None and booking.decision_reason == "plan looks fine"
    event = booking.events.order_by("-pk").first()
    assert (event.code, event.from_status, event.to_status, event.actor_organization) == (
        "booking.confirmed", S.REQUESTED, S.CONFIRMED, operator)


def test_reject(requested, operator):
    booking = services.reject_booking(booking_id=requested.pk, organization=operator,
                                      reason="needs fixture drawing")
    assert booking.status == S.REJECTED
    assert booking.events.filter(code="booking.rejected").exists()


def test_sme_cannot_approve_its_own(requested, sme):
    with pytest.raises(Forbidden):
        services.approve_booking(booking_id=requested.pk, organization=sme)
    requested.refresh_from_db()
    assert requested.status == S.REQUESTED


def test_other_operator_gets_not_found(requested, other_operator, other_sme):
    for org in (other_operator, other_sme):
        with pytest.raises(NotFound):
            services.cancel_booking(booking_id=requested.pk, organization=org)


def test_illegal_transitions_are_conflicts(confirmed, operator):
    with pytest.raises(Conflict) as info:
        services.approve_booking(booking_id=confirmed.pk, organization=operator)
    assert info.value.code == "illegal_transition"
    with pytest.raises(Conflict):
        services.complete_booking(booking_id=confirmed.pk, organization=operator,
                                  now=confirmed.start + timedelta(hours=1))


def test_check_in_window_and_completion(confirmed, operator):
    with pytest.raises(Conflict) as info:
        services.check_in_booking(booking_id=confirmed.pk, organization=operator,
                                  now=confirmed.start - timedelta(hours=2))
    assert info.value.code == "check_in_not_open"
    services.check_in_booking(booking_id=confirmed.pk, organization=operator,
                              now=confirmed.start - timedelta(minutes=20))
    with pytest.raises(Conflict) as info:
        services.complete_booking(booking_id=confirmed.pk, organization=operator,
                                  now=confirmed.start - timedelta(minutes=10))
    assert info.value.code == "complete_too_early"
    booking = services.complete_booking(booking_id=confirmed.pk, organization=operator,
                                        now=confirmed.end)
    assert booking.status == S.COMPLETED and booking.completed_at == confirmed.end
    assert list(booking.events.values_list("to_status", flat=True)) == [
        S.CONFIRMED, S.CHECKED_IN, S.COMPLETED]


def test_sme_cancels_before_start_only(confirmed, sme, operator):
    with pytest.raises(Conflict) as info:
        services.cancel_booking(booking_id=confirmed.pk, organization=sme,
                                now=confirmed.start + timedelta(minutes=1))
    assert info.value.code == "cancel_too_late"
    booking = services.cancel_booking(booking_id=confirmed.pk, organization=sme,
                                      reason="prototype not ready")
    assert booking.status == S.CANCELLED
    assert booking.events.last().reason == "prototype not ready"


def test_cancelled_slot_can_be_booked_again(confirmed, sme, other_sme):
    services.cancel_booking(booking_id=confirmed.pk, organization=sme)
    again = services.create_booking(equipment_id=confirmed.equipment_id, organization=other_sme,
                                    start=confirmed.start, end=confirmed.end, purpose="trial")
    assert again.status == S.CONFIRMED


def test_maintenance_window_cancels_overlapping_bookings(confirmed, equipment, operator, sme):
    later = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                    start=local(3, 9), end=local(3, 10), purpose="trial")
    equipment_services.create_maintenance_window(
        equipment=equipment, by=operator, start=local(2, 10), end=local(2, 14),
        reason="spindle bearing replacement")
    confirmed.refresh_from_db()
    later.refresh_from_db()
    assert confirmed.status == S.CANCELLED
    event = confirmed.events.last()
    assert event.code == "booking.cancelled" and event.notified_at is None  # still to notify
    assert event.reason == "Maintenance: spindle bearing replacement"
    assert event.actor_organization == operator
    assert confirmed.decision_reason == ""  # not an approval decision
    assert later.status == S.CONFIRMED


def test_equipment_down_cancels_future_bookings(confirmed, equipment, operator):
    equipment_services.update_equipment(equipment=equipment, by=operator,
                                        data={"status": "down"})
    confirmed.refresh_from_db()
    assert confirmed.status == S.CANCELLED
    assert confirmed.events.last().reason == "Equipment is down."
    assert confirmed.decision_reason == ""


def test_sme_cancelling_keeps_the_operators_decision(requested, operator, sme):
    """decision_reason/decided_at are the operator's approval; the SME's cancellation
    reason is its own event's (and the API's cancellation_reason)."""
    approved = services.approve_booking(booking_id=requested.pk, organization=operator,
                                        reason="plan looks fine")
    decided_at = approved.decided_at
    services.cancel_booking(booking_id=requested.pk, organization=sme,
                            reason="prototype not ready")
    requested.refresh_from_db()
    assert requested.status == S.CANCELLED
    assert (requested.decision_reason, requested.decided_at) == ("plan looks fine", decided_at)
    event = requested.events.last()
    assert (event.code, event.reason, event.actor_organization) == (
        "booking.cancelled", "prototype not ready", sme)


def test_expired_request_keeps_no_decision(requested):
    services.expire_request(booking_id=requested.pk, reason="Not approved before its start.")
    requested.refresh_from_db()
    assert requested.status == S.CANCELLED
    assert (requested.decision_reason, requested.decided_at) == ("", None)
    assert requested.events.last().reason == "Not approved before its start."


def test_maintenance_and_status_change_report_what_they_cancelled(confirmed, equipment,
                                                                  operator, sme):
    later = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                    start=local(3, 9), end=local(3, 10), purpose="trial")
    window = equipment_services.create_maintenance_window(
        equipment=equipment, by=operator, start=local(2, 10), end=local(2, 14), reason="x")
    assert window.cancelled_bookings == [confirmed.pk]
    changed = equipment_services.update_equipment(equipment=equipment, by=operator,
                                                  data={"status": "retired"})
    assert changed.cancelled_bookings == [later.pk]


def test_staff_act_without_organisation_but_api_callers_cannot(equipment, admin_user):
    with pytest.raises(Forbidden) as info:
        equipment_services.create_maintenance_window(
            equipment=equipment, by=None, start=local(2, 10), end=local(2, 14), reason="x")
    assert info.value.code == "not_operator"
    admin_user.is_staff = False
    with pytest.raises(Forbidden) as info:
        equipment_services.create_maintenance_window(
            equipment=equipment, by=None, staff_user=admin_user, start=local(2, 10),
            end=local(2, 14), reason="x")
    assert info.value.code == "not_staff"
    admin_user.is_staff = True
    window = equipment_services.create_maintenance_window(
        equipment=equipment, by=None, staff_user=admin_user, start=local(2, 10),
        end=local(2, 14), reason="x")
    assert window.created_by == admin_user


def test_api_keeps_the_decision_and_shows_the_cancellation_reason(requested, operator, sme):
    from tests.fixtures.world import key_client

    operator_client, sme_client = key_client(operator), key_client(sme)
    url = f"/api/v1/bookings/{requested.pk}/"
    response = operator_client.post(f"{url}approve/", {"reason": "plan looks fine"},
                                    format="json")
    assert response.status_code == 200, response.content
    decided_at = response.json()["decided_at"]
    assert response.json()["cancellation_reason"] is None
    response = sme_client.post(f"{url}cancel/", {"reason": "prototype not ready"},
                               format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["decision_reason"], body["decided_at"]) == (
        "cancelled", "plan looks fine", decided_at)
    assert body["cancellation_reason"] == "prototype not ready"
    listed = {b["id"]: b for b in operator_client.get("/api/v1/bookings/").json()["results"]}
    assert listed[requested.pk]["cancellation_reason"] == "prototype not ready"
    assert listed[requested.pk]["decision_reason"] == "plan looks fine"
