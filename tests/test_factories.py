"""The factories build rows as the services do (so tests built on them test real shapes)."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from bookings import services as booking_services
from bookings.models import Booking
from tests.factories import (
    BookingEventFactory,
    BookingFactory,
    ConsentFactory,
    EquipmentFactory,
    OrganizationFactory,
    SharingAgreementFactory,
    TrialFactory,
    WebhookEndpointFactory,
    api_key_for,
    next_hour,
)
from trials.models import Trial

pytestmark = pytest.mark.django_db


def test_booking_blocks_like_the_service():
    equipment = EquipmentFactory(changeover_buffer=45, lead_time=0)
    sme = OrganizationFactory()
    start = next_hour(48)
    made = BookingFactory(equipment=equipment, organization=sme, start=start)
    served = booking_services.create_booking(
        equipment_id=equipment.pk, organization=sme, start=start + timedelta(days=1),
        end=start + timedelta(days=1, hours=2), purpose="trial")
    assert made.blocked_until - made.end == served.blocked_until - served.end
    assert made.blocked_until == made.end + timedelta(minutes=45)
    assert made.price == served.price


def test_booking_event_records_the_status():
    event = BookingEventFactory(booking=BookingFactory(status=Booking.Status.CANCELLED))
    assert (event.code, event.to_status) == ("booking.cancelled", "cancelled")
    assert BookingFactory(events=True).events.get().code == "booking.confirmed"


def test_collected_trial_has_its_readings_and_summary():
    trial = TrialFactory(collected=True)
    assert trial.booking.status == Booking.Status.COMPLETED
    assert trial.status == Trial.Status.COLLECTED
    assert trial.measurements.count() == trial.measurement_count == 60
    assert sorted(trial.summary) == ["spindle_load", "vibration_rms"]
    assert TrialFactory().measurements.count() == 0


def test_agreement_and_consent_are_bound_to_version_one():
    agreement = SharingAgreementFactory()
    assert agreement.versions.get().number == 1
    assert agreement.versions.get().terms == agreement.terms()
    consent = ConsentFactory(agreement=agreement)
    assert consent.version == agreement.versions.get()


def test_api_key_helper_and_webhook_endpoint():
    org = OrganizationFactory(flagship=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org)}")
    assert client.get("/api/v1/bookings/").status_code == 200
    assert WebhookEndpointFactory(organization=org).secret.startswith("whsec_")
