"""Regressions found in the review of issue 15's console: bad input is a clear answer,
never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bookings.models import Booking
from tests.fixtures.world import local, make_booking

pytestmark = pytest.mark.django_db
S = Booking.Status


@pytest.mark.parametrize("next_value", ["x", "0", "2026-01-01", "admin:index", "%"])
def test_a_next_that_is_not_a_path_goes_back_to_the_booking_not_a_500(
    console_member, equipment, sme, next_value
):
    """``next`` passing the same-site check but naming no page (a bare word is taken for
    a view name by ``redirect``) must not raise NoReverseMatch."""
    booking = make_booking(equipment, sme, local(2, 10), local(2, 12), status=S.REQUESTED)
    response = console_member.post(
        reverse("console:approve", args=[booking.pk]), {"reason": "", "next": next_value}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:booking", args=[booking.pk])
    booking.refresh_from_db()
    assert booking.status == S.CONFIRMED


def test_a_search_of_many_words_is_answered(hub, category):
    """Each word used to join the capabilities once more: 32 words passed SQLite's limit of
    64 tables in a join (a 500) and multiplied rows on PostgreSQL."""
    from equipment.selectors import equipment_list, search_equipment
    from tests.factories import CapabilityFactory, EquipmentFactory

    five_axis = CapabilityFactory(name="5-axis machining", slug="5-axis", name_zh_hans="五轴加工")
    probing = CapabilityFactory(name="In-process probing", slug="probing")
    machine = EquipmentFactory(hub=hub, category=category, name="DMU 50")
    machine.capabilities.set([five_axis, probing])
    EquipmentFactory(hub=hub, category=category, name="Lathe")
    found = search_equipment(equipment_list(), " ".join(["probing"] * 50))
    assert [e.name for e in found] == ["DMU 50"]
    assert [e.name for e in search_equipment(equipment_list(), "五轴 probing")] == ["DMU 50"]


def _qualification_request(sme, equipment):
    from equipment import services as equipment_services
    from organizations.models import Membership
    from tests.factories import MembershipFactory, UserFactory

    user = MembershipFactory(
        organization=sme,
        role=Membership.Role.MEMBER,
        user=UserFactory(email="asker@precision.test"),
    ).user
    return equipment_services.request_qualification(
        user=user, organization=sme, equipment_id=equipment.pk
    )


@pytest.mark.parametrize("expires", ["9999-12-31", "0001-01-01"])
def test_granting_until_the_last_or_first_possible_day_is_refused_not_a_500(
    console_member, equipment, sme, expires
):
    """The day after 9999-12-31 does not exist (OverflowError); the first day is past."""
    from equipment.models import QualificationRequest

    item = _qualification_request(sme, equipment)
    response = console_member.post(
        reverse("console:qualification-grant", args=[item.pk]), {f"g{item.pk}-expires": expires}
    )
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.status == QualificationRequest.Status.REQUESTED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_submitted_qualification_request_is_one_request(equipment, sme):
    """Both submits saw no open request (``select_for_update`` of no rows locks nothing);
    the loser hit the one-open-request constraint as an IntegrityError (a 500)."""
    from core.errors import DomainError
    from equipment import services as equipment_services
    from equipment.models import QualificationRequest
    from organizations.models import Membership
    from tests.bookings.test_concurrency import race
    from tests.factories import MembershipFactory, UserFactory

    user = MembershipFactory(
        organization=sme,
        role=Membership.Role.MEMBER,
        user=UserFactory(email="twice@precision.test"),
    ).user
    for _round in range(5):
        QualificationRequest.objects.filter(user=user).delete()
        results = race(
            8,
            lambda i: equipment_services.request_qualification(
                user=user, organization=sme, equipment_id=equipment.pk
            ),
        )
        made = [r for r in results if isinstance(r, QualificationRequest)]
        refused = [r for r in results if isinstance(r, DomainError)]
        assert len(made) == 1, results
        assert {r.code for r in refused} == {"qualification_request_open"}, results
        assert len(refused) == 7, results


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-01-01", "end": "9999-12-31", "month": "2026-01"},
        {"start": "0001-01-01", "end": "0001-01-02", "month": "2026-01"},
        {"start": "2026-01-01", "end": "2026-01-02", "month": "9999-12"},
        {"start": "2026-01-01", "end": "2026-01-02", "month": "0001-01", "export": "billing"},
    ],
)
def test_reports_for_days_without_a_hub_time_are_refused_not_a_500(console_member, query):
    response = console_member.get(reverse("console:reports"), query)
    assert response.status_code == 400
    assert response.context["form"].errors


def _agreement_post(category, **times):
    return {
        "university": "tsinghua",
        "hub": "yizhuang",
        "categories": category.slug,
        "embargo_days": "30",
        "license": "CC-BY-4.0",
        "endpoint_url": "https://uni.example.com/releases",
        **times,
    }


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"valid_from": "2026-06-01T00:00", "valid_until": "2026-01-01T00:00"}, "valid_until"),
        ({"valid_from": "0001-01-01T00:00"}, "valid_from"),
        ({"valid_from": "9999-12-31T23:59"}, "valid_from"),
    ],
)
def test_an_agreement_with_impossible_validity_is_refused_at_its_field(
    console_admin, university, hub, category, times, field
):
    """The model's own check (end after start) came as Django's ValidationError, and the
    first and last dates have no UTC time: both were a 500 on the console."""
    from trials.models import SharingAgreement

    response = console_admin.post(
        reverse("console:agreement-create"), _agreement_post(category, **times)
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not SharingAgreement.objects.exists()


def test_changing_an_agreement_to_end_before_it_starts_is_refused_at_its_field(
    console_admin, operator, university, hub, category
):
    from tests.console.test_setup_world import agreement_form, make_agreement

    agreement = make_agreement(operator, university, hub, category)
    data = agreement_form(university=university, hub=hub, category=category)
    data.update(valid_from="2026-06-01T00:00", valid_until="2026-01-01T00:00")
    response = console_admin.post(reverse("console:agreement", args=[agreement.pk]), data)
    assert response.status_code == 400
    assert "valid_until" in response.context["form"].errors
    agreement.refresh_from_db()
    assert agreement.valid_until is None or agreement.valid_until > agreement.valid_from


def test_a_booking_horizon_past_the_last_date_is_refused_at_its_field(
    console_member, equipment, client
):
    """3,000,000 days ahead is past year 9999: the equipment's public week page (and every
    booking check) failed with OverflowError once it was saved."""
    from tests.console.test_setup_world import equipment_form

    horizon = equipment.booking_horizon
    response = console_member.post(
        reverse("console:equipment-edit", args=[equipment.pk]),
        equipment_form(equipment, booking_horizon="3000000"),
    )
    assert response.status_code == 400
    assert "booking_horizon" in response.context["form"].errors
    equipment.refresh_from_db()
    assert equipment.booking_horizon == horizon
    assert client.get(reverse("bookings:calendar", args=[equipment.pk])).status_code == 200
