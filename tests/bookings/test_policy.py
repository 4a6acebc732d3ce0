"""Each policy rule alone, through the create service, plus 'all reported together'."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from bookings import policy
from bookings.models import Booking
from bookings.services import create_booking
from core.errors import ValidationFailed
from equipment.models import Equipment
from tests.factories import MaintenanceWindowFactory, MembershipFactory, QualificationFactory
from tests.fixtures.world import local, make_equipment

pytestmark = pytest.mark.django_db


def codes_for(**kwargs) -> set[str]:
    with pytest.raises(ValidationFailed) as info:
        create_booking(purpose="trial", **kwargs)
    return {v.code for v in info.value.violations}


def test_a_good_request_is_confirmed_with_price(equipment, sme):
    booking = create_booking(equipment_id=equipment.pk, organization=sme,
                             start=local(2, 9), end=local(2, 11, 30), purpose="trial")
    assert booking.status == Booking.Status.CONFIRMED
    assert str(booking.price) == "1000.00"  # 2.5 h × 400 CNY
    assert booking.events.get().code == "booking.confirmed"


def test_approval_required_leaves_it_requested(hub, category, sme):
    eq = make_equipment(hub, category, "robot", approval_required=True)
    booking = create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 9),
                             end=local(2, 10), purpose="trial")
    assert booking.status == Booking.Status.REQUESTED
    assert booking.events.get().code == "booking.requested"


@pytest.mark.parametrize("status", [Equipment.Status.DOWN, Equipment.Status.RETIRED])
def test_equipment_down_or_retired(equipment, sme, status):
    equipment.status = status
    equipment.save()
    assert policy.EQUIPMENT_UNAVAILABLE in codes_for(
        equipment_id=equipment.pk, organization=sme, start=local(2, 9), end=local(2, 10))


def test_unverified_sme(equipment, sme):
    sme.verified = False
    sme.save()
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(2, 9),
                     end=local(2, 10)) == {policy.ORGANIZATION_UNVERIFIED}


def test_misaligned(equipment, sme):
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(2, 9, 10),
                     end=local(2, 10, 10)) == {policy.MISALIGNED}


def test_alignment_is_in_hub_time_for_odd_offsets(hub, category, sme):
    # Kathmandu is UTC+05:45: a 60-minute grid there is not aligned to UTC hours.
    hub.timezone = "Asia/Kathmandu"
    hub.save()
    eq = make_equipment(hub, category, "k1", slot_granularity=60)
    ktm = ZoneInfo("Asia/Kathmandu")
    start = (timezone.now() + timedelta(days=2)).astimezone(ktm).replace(
        hour=9, minute=0, second=0, microsecond=0)
    create_booking(equipment_id=eq.pk, organization=sme, start=start,
                   end=start + timedelta(hours=1), purpose="trial")
    utc_hour = start.astimezone(ZoneInfo("UTC")).replace(minute=0)
    assert codes_for(equipment_id=eq.pk, organization=sme, start=utc_hour + timedelta(days=1),
                     end=utc_hour + timedelta(days=1, hours=1)) == {policy.MISALIGNED}


def test_too_short_and_too_long(equipment, sme):
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(2, 9),
                     end=local(2, 9, 30)) == {policy.TOO_SHORT}
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(2, 9),
                     end=local(2, 17, 30)) == {policy.TOO_LONG}


def test_lead_time_and_past(hub, category, sme):
    eq = make_equipment(hub, category, "lead", lead_time=48 * 60)
    assert codes_for(equipment_id=eq.pk, organization=sme, start=local(1, 9),
                     end=local(1, 10)) == {policy.LEAD_TIME}
    no_lead = make_equipment(hub, category, "nolead")
    assert codes_for(equipment_id=no_lead.pk, organization=sme, start=local(-1, 9),
                     end=local(-1, 10)) == {policy.LEAD_TIME}


def test_horizon(equipment, sme):
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(61, 9),
                     end=local(61, 10)) == {policy.TOO_FAR_AHEAD}


def test_opening_hours_office(hub, category, sme):
    hub.opening_hours = {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]],
                         "wed": [["08:00", "18:00"]], "thu": [["08:00", "18:00"]],
                         "fri": [["08:00", "18:00"]], "sat": [["08:00", "18:00"]],
                         "sun": [["08:00", "18:00"]]}
    hub.save()
    eq = make_equipment(hub, category, "office")
    assert codes_for(equipment_id=eq.pk, organization=sme, start=local(2, 17),
                     end=local(2, 19)) == {policy.OUTSIDE_OPENING_HOURS}
    assert codes_for(equipment_id=eq.pk, organization=sme, start=local(2, 6),
                     end=local(2, 8)) == {policy.OUTSIDE_OPENING_HOURS}
    create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 16), end=local(2, 18),
                   purpose="trial")


def test_opening_hours_across_midnight(hub, category, sme):
    night = {d: [["22:00", "06:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hub.opening_hours = night
    hub.save()
    eq = make_equipment(hub, category, "night")
    booking = create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 23),
                             end=local(3, 3), purpose="night shift trial")
    assert booking.pk
    assert codes_for(equipment_id=eq.pk, organization=sme, start=local(3, 5),
                     end=local(3, 7)) == {policy.OUTSIDE_OPENING_HOURS}


def test_maintenance(equipment, sme):
    MaintenanceWindowFactory(equipment=equipment, start=local(2, 10), end=local(2, 12))
    assert codes_for(equipment_id=equipment.pk, organization=sme, start=local(2, 11),
                     end=local(2, 13)) == {policy.MAINTENANCE}


def test_qualification(hub, category, sme):
    eq = make_equipment(hub, category, "laser", qualification_required=True)
    user = MembershipFactory(organization=sme, user__email="lead@precision.example").user
    kwargs = dict(equipment_id=eq.pk, organization=sme, start=local(2, 9), end=local(2, 10))
    assert codes_for(**kwargs) == {policy.TRIAL_LEAD_REQUIRED}
    assert codes_for(trial_lead_email=user.email, **kwargs) == {policy.QUALIFICATION_REQUIRED}
    q = QualificationFactory(user=user, equipment=None, category=category,
                             expires=timezone.now() - timedelta(days=1))
    assert codes_for(trial_lead_email=user.email, **kwargs) == {policy.QUALIFICATION_REQUIRED}
    q.expires = timezone.now() + timedelta(days=30)
    q.save()
    booking = create_booking(trial_lead_email=user.email, purpose="trial", **kwargs)
    assert booking.trial_lead == user


def test_open_bookings_limit(hub, category, sme, other_sme):
    eq = make_equipment(hub, category, "limited", max_open_bookings_per_sme=1)
    create_booking(equipment_id=eq.pk, organization=sme, start=local(2, 9), end=local(2, 10),
                   purpose="trial")
    assert codes_for(equipment_id=eq.pk, organization=sme, start=local(3, 9),
                     end=local(3, 10)) == {policy.OPEN_BOOKINGS_LIMIT}
    # Another SME is not limited by the first one's bookings.
    create_booking(equipment_id=eq.pk, organization=other_sme, start=local(3, 9),
                   end=local(3, 10), purpose="trial")


def test_all_violations_reported_together(hub, category, sme):
    sme.verified = False
    sme.save()
    eq = make_equipment(hub, category, "strict", lead_time=72 * 60, status="down")
    codes = codes_for(equipment_id=eq.pk, organization=sme, start=local(1, 9, 10),
                      end=local(1, 9, 40))
    assert codes == {policy.EQUIPMENT_UNAVAILABLE, policy.ORGANIZATION_UNVERIFIED,
                     policy.MISALIGNED, policy.TOO_SHORT, policy.LEAD_TIME}
    assert Booking.objects.count() == 0
