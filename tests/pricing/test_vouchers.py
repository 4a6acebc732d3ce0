"""The voucher split of booking quotes: who may use a grant where, the caps, the shortfall
choice, and the voucher share returned when a booking ends without being carried out."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from bookings import services as bookings
from bookings.models import Booking
from core.errors import Conflict, ValidationFailed
from equipment.models import Equipment
from equipment.services import update_equipment
from pricing.models import Quote, QuoteLine
from tests.factories import (
    AffiliationFactory,
    CategoryFactory,
    HubFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
)
from tests.fixtures.world import local, make_equipment

D = Decimal
K = QuoteLine.Kind


def book(sme, equipment, day=2, hours=2, **kwargs):
    return bookings.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(day, 9), end=local(day, 9 + hours),
                                   purpose="Trial", **kwargs)


def assert_grant_matches_its_lines(grant):
    grant.refresh_from_db()
    booked = QuoteLine.objects.filter(quote__grant=grant, quote__status=Quote.Status.BOOKED)
    assert grant.used == (booked.aggregate(s=Sum("voucher_share"))["s"] or 0)
    assert 0 <= grant.used <= grant.amount


def test_split_per_line_eligible_kinds_only(sme, equipment, rate, item, grant):
    from pricing import services

    estimate = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                        start=local(2, 9), end=local(2, 11), assisted=True,
                                        items=[("ti-blank", 2)])
    booking = book(sme, equipment, quote_id=estimate.pk, grant_id=grant.pk)
    lines = list(booking.quote.lines.order_by("position"))
    assert [(li.kind, li.amount, li.voucher_share, li.sme_share) for li in lines] == [
        (K.USAGE, D("800.00"), D("400.00"), D("400.00")),
        (K.ASSISTED, D("200.00"), D("100.00"), D("100.00")),
        (K.SETUP, D("200.00"), D("100.00"), D("100.00")),
        (K.ITEM, D("71.00"), D("0.00"), D("71.00"))]
    assert (booking.quote.voucher_total, booking.quote.sme_total) == (D("600.00"), D("671.00"))
    assert_grant_matches_its_lines(grant)
    assert grant.used == D("600.00")


def refusal(sme, equipment, grant_id, **kwargs):
    with pytest.raises(ValidationFailed) as caught:
        book(sme, equipment, grant_id=grant_id, **kwargs)
    assert not Booking.objects.exists()
    (violation,) = caught.value.violations
    assert violation.field == "voucher_grant"
    return violation.code


def test_another_smes_or_unknown_grant(sme, other_sme, equipment, programme):
    theirs = VoucherGrantFactory(programme=programme, organization=other_sme)
    assert refusal(sme, equipment, theirs.pk) == "voucher_grant_unknown"
    assert refusal(sme, equipment, 10**9) == "voucher_grant_unknown"


def test_revoked_grant(sme, equipment, grant):
    grant.revoked_at = timezone.now()
    grant.save()
    assert refusal(sme, equipment, grant.pk) == "voucher_grant_revoked"


def test_grant_or_programme_out_of_validity(sme, equipment, programme, grant):
    day = local(2, 9).date()
    grant.valid_until = day - timedelta(days=1)
    grant.save()
    assert refusal(sme, equipment, grant.pk) == "voucher_grant_not_valid"
    grant.valid_until = date(2035, 12, 31)
    grant.save()
    programme.valid_from = day + timedelta(days=1)
    programme.valid_until = day + timedelta(days=10)
    programme.save()
    assert refusal(sme, equipment, grant.pk) == "voucher_grant_not_valid"


def test_hub_not_accredited(sme, operator, category, grant):
    elsewhere = HubFactory(operator=operator, slug="elsewhere", timezone="Asia/Shanghai")
    machine = make_equipment(elsewhere, category, "far")
    assert refusal(sme, machine, grant.pk) == "voucher_provider_not_accredited"


def test_category_not_covered(sme, equipment, programme, grant):
    programme.categories.set([CategoryFactory(slug="additive")])
    assert refusal(sme, equipment, grant.pk) == "voucher_category_not_covered"
    programme.categories.add(equipment.category)
    assert book(sme, equipment, grant_id=grant.pk).quote.voucher_total == D("400.00")


@pytest.mark.parametrize("direction", ["sme_declares", "operator_declares"])
def test_affiliated_with_the_operator(sme, operator, equipment, grant, direction):
    if direction == "sme_declares":
        AffiliationFactory(organization=sme, affiliate=operator)
    else:
        AffiliationFactory(organization=operator, affiliate=sme)
    assert refusal(sme, equipment, grant.pk) == "voucher_affiliated"


def test_an_ended_affiliation_does_not_count(sme, operator, equipment, grant):
    AffiliationFactory(organization=sme, affiliate=operator, ended_at=timezone.now())
    assert book(sme, equipment, grant_id=grant.pk).quote.voucher_total == D("400.00")


def test_grant_remaining_caps_then_sme_pays(sme, equipment, programme):
    grant = VoucherGrantFactory(programme=programme, organization=sme, amount=D("500.00"))
    first = book(sme, equipment, day=2, grant_id=grant.pk)
    second = book(sme, equipment, day=3, grant_id=grant.pk)
    third = book(sme, equipment, day=4, grant_id=grant.pk)
    assert [b.quote.voucher_total for b in (first, second, third)] == [
        D("400.00"), D("100.00"), D("0.00")]
    assert [b.quote.sme_total for b in (first, second, third)] == [
        D("400.00"), D("700.00"), D("800.00")]
    assert_grant_matches_its_lines(grant)
    assert grant.used == grant.amount


def test_refuse_when_the_voucher_falls_short(sme, equipment, programme):
    grant = VoucherGrantFactory(programme=programme, organization=sme, amount=D("500.00"))
    book(sme, equipment, day=2, grant_id=grant.pk, shortfall="refuse")
    with pytest.raises(Conflict) as caught:
        book(sme, equipment, day=3, grant_id=grant.pk, shortfall="refuse")
    assert caught.value.code == "voucher_exhausted"
    assert caught.value.extra == {"voucher_covered": "100.00", "voucher_wanted": "400.00"}
    assert Booking.objects.count() == 1
    assert_grant_matches_its_lines(grant)
    assert grant.used == D("400.00")


def test_cap_per_use(sme, equipment, programme, grant):
    programme.cap_per_use = D("150.00")
    programme.save()
    assert book(sme, equipment, grant_id=grant.pk).quote.voucher_total == D("150.00")


def test_cap_per_sme_year_across_grants_of_the_programme(sme, equipment, programme):
    programme.cap_per_sme_year = D("600.00")
    programme.save()
    one = VoucherGrantFactory(programme=programme, organization=sme, amount=D("5000.00"))
    two = VoucherGrantFactory(programme=programme, organization=sme, amount=D("5000.00"))
    assert book(sme, equipment, day=2, grant_id=one.pk).quote.voucher_total == D("400.00")
    assert book(sme, equipment, day=3, grant_id=two.pk).quote.voucher_total == D("200.00")
    # A booking in the next calendar year (hub time) has the year's cap again.
    next_year = local(2, 9).year + 1
    days = (date(next_year, 1, 5) - local(0, 0).date()).days
    machine = make_equipment(equipment.hub, equipment.category, "later", booking_horizon=400)
    assert book(sme, machine, day=days, grant_id=two.pk).quote.voucher_total == D("400.00")


def test_cancellation_returns_the_voucher_share(sme, equipment, grant):
    booking = book(sme, equipment, day=5, grant_id=grant.pk)
    bookings.cancel_booking(booking_id=booking.pk, organization=sme)
    booking.quote.refresh_from_db()
    assert booking.quote.status == Quote.Status.RELEASED
    assert not booking.quote.lines.filter(kind=K.LATE_CANCELLATION).exists()
    assert_grant_matches_its_lines(grant)
    assert grant.used == 0


def test_late_cancellation_by_the_sme_adds_its_fee_for_the_sme_alone(sme, equipment, grant):
    booking = book(sme, equipment, day=1, grant_id=grant.pk)
    now = booking.start - timedelta(hours=1)
    bookings.cancel_booking(booking_id=booking.pk, organization=sme, now=now)
    quote = Quote.objects.get(pk=booking.quote_id)
    fee = quote.lines.get(kind=K.LATE_CANCELLATION)
    assert fee.amount > 0 and fee.voucher_share == 0 and fee.sme_share == fee.amount
    assert quote.total == sum(li.amount for li in quote.lines.all())
    assert quote.sme_total == sum(li.sme_share for li in quote.lines.all())
    assert_grant_matches_its_lines(grant)
    assert grant.used == 0


def test_operator_cancellation_charges_no_fee(sme, operator, equipment, grant):
    booking = book(sme, equipment, day=1, grant_id=grant.pk)
    bookings.cancel_booking(booking_id=booking.pk, organization=operator,
                            now=booking.start - timedelta(hours=1))
    assert not QuoteLine.objects.filter(kind=K.LATE_CANCELLATION).exists()
    assert_grant_matches_its_lines(grant)


def test_rejection_and_no_show_release(sme, operator, hub, category, grant):
    asks = make_equipment(hub, category, "asks", approval_required=True)
    rejected = book(sme, asks, grant_id=grant.pk)
    bookings.reject_booking(booking_id=rejected.pk, organization=operator, reason="No")
    missed = book(sme, asks, day=3, grant_id=grant.pk)
    bookings.approve_booking(booking_id=missed.pk, organization=operator)
    bookings.mark_no_show(booking_id=missed.pk, reason="Nobody came",
                          now=missed.start + timedelta(hours=1))
    assert set(Quote.objects.filter(kind=Quote.Kind.BOOKING)
               .values_list("status", flat=True)) == {Quote.Status.RELEASED}
    assert_grant_matches_its_lines(grant)
    assert grant.used == 0


def test_operator_no_show_releases(sme, operator, equipment, grant):
    booking = book(sme, equipment, day=1, grant_id=grant.pk)
    bookings.mark_no_show_by_operator(booking_id=booking.pk, organization=operator,
                                      now=booking.start + timedelta(hours=1))
    assert_grant_matches_its_lines(grant)
    assert grant.used == 0


def test_equipment_going_down_releases(sme, operator, equipment, grant):
    book(sme, equipment, day=2, grant_id=grant.pk)
    update_equipment(equipment=equipment, by=operator, data={"status": Equipment.Status.DOWN})
    assert Booking.objects.get().status == Booking.Status.CANCELLED
    assert_grant_matches_its_lines(grant)
    assert grant.used == 0


def test_completed_booking_keeps_its_share(sme, operator, equipment, grant):
    booking = book(sme, equipment, day=1, grant_id=grant.pk)
    later = booking.start + timedelta(minutes=5)
    bookings.check_in_booking(booking_id=booking.pk, organization=operator, now=later)
    bookings.complete_booking(booking_id=booking.pk, organization=operator, now=later)
    assert Quote.objects.get(pk=booking.quote_id).status == Quote.Status.BOOKED
    assert_grant_matches_its_lines(grant)
    assert grant.used == D("400.00")


def test_shortfall_must_be_a_known_choice(sme, equipment, grant):
    with pytest.raises(ValidationFailed) as caught:
        book(sme, equipment, grant_id=grant.pk, shortfall="maybe")
    assert caught.value.violations[0].field == "if_voucher_short"


def test_subsidy_share_rounds_half_up_per_line(sme, equipment):
    programme = VoucherProgrammeFactory(providers=[equipment.hub],
                                        subsidy_share=D("0.3333"))
    grant = VoucherGrantFactory(programme=programme, organization=sme)
    booking = book(sme, equipment, grant_id=grant.pk)
    assert booking.quote.voucher_total == D("266.64")  # fen(800 × 0.3333), half up
