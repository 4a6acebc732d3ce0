"""Settlement claims: what a draft collects (only completed bookings, with a voucher share,
of the programme, at the provider's hubs, starting in the month, never claimed twice), the
legal moves and who may make them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.claims import services
from billing.models import ClaimLine, SettlementClaim
from core.errors import Conflict, Forbidden, ValidationFailed
from pricing.models import Quote, VoucherProgramme
from tests.billing.conftest import NOVEMBER, OCTOBER, S, at, priced
from tests.factories import HubFactory
from tests.fixtures.world import make_equipment

from .conftest import grant_for, programme_for

pytestmark = pytest.mark.django_db
C = SettlementClaim.Status


def draft(operator, programme, month=NOVEMBER, user=None):
    return services.draft_claim(provider=operator, programme_id=programme.pk, month=month,
                                by_user=user)


def codes(exc) -> list[str]:
    return [v.code for v in exc.value.violations]


def test_a_draft_collects_the_completed_bookings_that_used_the_programme(
        operator, programme, grant, other_grant, equipment, second_equipment, sme, other_sme):
    one = priced(equipment, sme, at(10), grant=grant, voucher="400.00")
    two = priced(second_equipment, other_sme, at(20, 14), grant=other_grant, voucher="250.50")
    claim, created = draft(operator, programme)
    assert created and claim.status == C.DRAFT and claim.month == NOVEMBER
    lines = {line.booking_id: line for line in claim.lines.all()}
    assert set(lines) == {one.pk, two.pk}
    assert lines[one.pk].amount == Decimal("400.00") and lines[one.pk].grant == grant
    assert lines[two.pk].grant == other_grant
    assert claim.amount == Decimal("650.50")
    claim.refresh_from_db()
    assert claim.amount == Decimal("650.50")


@pytest.mark.parametrize("status", [S.CONFIRMED, S.CHECKED_IN, S.NO_SHOW, S.CANCELLED,
                                    S.REJECTED, S.REQUESTED])
def test_only_completed_bookings_are_claimed(operator, programme, grant, equipment, sme,
                                             completed, status):
    priced(equipment, sme, at(12), grant=grant, voucher="400.00", status=status)
    claim, _ = draft(operator, programme)
    assert [line.booking_id for line in claim.lines.all()] == [completed.pk]


def test_bookings_without_a_voucher_share_or_with_a_released_quote_are_left_out(
        operator, programme, grant, equipment, sme, other_sme, completed):
    priced(equipment, other_sme, at(11))  # no grant at all
    priced(equipment, sme, at(12), grant=grant, voucher="0.00")  # the voucher paid nothing
    priced(equipment, sme, at(13), grant=grant, voucher="400.00",
           quote_status=Quote.Status.RELEASED)
    claim, _ = draft(operator, programme)
    assert [line.booking_id for line in claim.lines.all()] == [completed.pk]


def test_another_programmes_grant_is_not_claimed_under_this_one(operator, programme, hub,
                                                                equipment, sme, completed):
    elsewhere = programme_for(hub, reference="SH-CXQ-2026")
    priced(equipment, sme, at(14), grant=grant_for(elsewhere, sme), voucher="300.00")
    claim, _ = draft(operator, programme)
    assert [line.booking_id for line in claim.lines.all()] == [completed.pk]
    other, _ = draft(operator, elsewhere)
    assert other.amount == Decimal("300.00")


def test_another_providers_hubs_are_not_in_its_claim(operator, other_operator, programme,
                                                     grant, category, sme, completed):
    their_hub = HubFactory(operator=other_operator, slug="shunyi", timezone="Asia/Shanghai")
    programme.providers.add(their_hub)
    theirs = priced(make_equipment(their_hub, category, "their-cnc"), sme, at(15),
                    grant=grant, voucher="100.00")
    mine, _ = draft(operator, programme)
    assert [line.booking_id for line in mine.lines.all()] == [completed.pk]
    their_claim, _ = draft(other_operator, programme)
    assert [line.booking_id for line in their_claim.lines.all()] == [theirs.pk]


def test_the_month_is_the_hubs_calendar_month(operator, programme, grant, equipment, sme):
    # 1 December 00:30 in Shanghai is still 30 November in UTC: December's, not November's.
    december = priced(equipment, sme, at(1, 0, month=12).replace(minute=30), grant=grant,
                      voucher="100.00")
    # 1 November 00:30 in Shanghai is 31 October in UTC: November's.
    november = priced(equipment, sme, at(1, 0).replace(minute=30), grant=grant,
                      voucher="100.00")
    priced(equipment, sme, at(31, 9, month=10), grant=grant, voucher="100.00")
    claim, _ = draft(operator, programme)
    assert [line.booking_id for line in claim.lines.all()] == [november.pk]
    assert december.pk not in [line.booking_id for line in claim.lines.all()]
    october, _ = draft(operator, programme, month=OCTOBER)
    assert october.lines.count() == 1


def test_a_booking_is_never_claimed_twice(operator, programme, grant, equipment, sme,
                                          completed):
    claim, _ = draft(operator, programme)
    services.submit_claim(claim_id=claim.pk, provider=operator)
    # The booking already on November's claim: a supplementary claim for November finds
    # nothing new to claim, and is not kept.
    with pytest.raises(Conflict) as refused:
        draft(operator, programme)
    assert refused.value.code == "claim_empty"
    assert ClaimLine.objects.filter(booking=completed).count() == 1
    assert SettlementClaim.objects.count() == 1


def test_rerunning_a_draft_refreshes_its_lines(operator, programme, grant, equipment, sme,
                                               completed):
    claim, created = draft(operator, programme)
    later = priced(equipment, sme, at(25), grant=grant, voucher="123.45")
    again, created_again = draft(operator, programme)
    assert (created, created_again) == (True, False)
    assert again.pk == claim.pk
    assert sorted(line.booking_id for line in again.lines.all()) == sorted([completed.pk,
                                                                            later.pk])
    assert again.amount == Decimal("523.45")
    assert SettlementClaim.objects.count() == 1


def test_an_empty_claim_is_refused_and_nothing_is_kept(operator, programme, grant):
    with pytest.raises(Conflict) as refused:
        draft(operator, programme)
    assert refused.value.code == "claim_empty"
    assert "Nov 2026" in refused.value.message
    assert not SettlementClaim.objects.exists()


def test_a_programme_not_accrediting_the_providers_hubs_is_unknown(
        operator, other_operator, programme, completed):
    with pytest.raises(ValidationFailed) as refused:
        draft(other_operator, programme)
    assert codes(refused) == ["claim_programme_unknown"]
    assert refused.value.violations[0].field == "programme"


def test_only_operators_claim(sme, programme, completed):
    with pytest.raises(Forbidden) as refused:
        draft(sme, programme)
    assert refused.value.code == "not_operator"


def test_a_programme_whose_firms_claim_is_refused(operator, programme, completed):
    VoucherProgramme.objects.filter(pk=programme.pk).update(
        claimant=VoucherProgramme.Claimant.SME)
    with pytest.raises(ValidationFailed) as refused:
        draft(operator, programme)
    assert codes(refused) == ["claim_by_firms"]


# --- the moves --------------------------------------------------------------------------

@pytest.fixture
def claim(operator, programme, completed, operator_user):
    made, _ = draft(operator, programme, user=operator_user)
    return made


def test_the_whole_way_to_paid(claim, operator, staff_user):
    submitted = services.submit_claim(claim_id=claim.pk, provider=operator)
    assert submitted.status == C.SUBMITTED and submitted.submitted_at
    approved = services.approve_claim(claim_id=claim.pk, by_user=staff_user)
    assert approved.status == C.APPROVED and approved.decided_at
    paid = services.mark_claim_paid(claim_id=claim.pk, payment_reference=" BJ-PAY-2026-118 ",
                                    by_user=staff_user)
    claim.refresh_from_db()
    assert (claim.status, claim.payment_reference) == (C.PAID, "BJ-PAY-2026-118")
    assert paid.paid_at is not None


def test_rejected_reopened_refreshed_and_resubmitted(claim, operator, staff_user, equipment,
                                                     sme, grant):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    services.reject_claim(claim_id=claim.pk, reason="The October invoice is missing.",
                          by_user=staff_user)
    claim.refresh_from_db()
    assert (claim.status, claim.reason) == (C.REJECTED, "The October invoice is missing.")
    reopened = services.reopen_claim(claim_id=claim.pk, provider=operator)
    assert reopened.status == C.DRAFT and reopened.reason  # kept until resubmitted
    priced(equipment, sme, at(26), grant=grant, voucher="50.00")
    refreshed, created = draft(operator, claim.programme)
    assert not created and refreshed.lines.count() == 2
    resubmitted = services.submit_claim(claim_id=claim.pk, provider=operator)
    assert (resubmitted.status, resubmitted.reason, resubmitted.decided_at) == (
        C.SUBMITTED, "", None)


@pytest.mark.parametrize(("status", "move"), [
    (C.DRAFT, "approve"), (C.DRAFT, "pay"), (C.DRAFT, "reject"), (C.DRAFT, "reopen"),
    (C.SUBMITTED, "submit"), (C.SUBMITTED, "pay"), (C.SUBMITTED, "reopen"),
    (C.APPROVED, "submit"), (C.APPROVED, "approve"), (C.APPROVED, "reopen"),
    (C.PAID, "reject"), (C.PAID, "pay"), (C.PAID, "submit"), (C.PAID, "reopen"),
    (C.REJECTED, "approve"), (C.REJECTED, "submit"), (C.REJECTED, "pay"),
])
def test_an_illegal_move_is_a_conflict_and_changes_nothing(claim, operator, staff_user,
                                                           status, move):
    SettlementClaim.objects.filter(pk=claim.pk).update(status=status)
    calls = {
        "submit": lambda: services.submit_claim(claim_id=claim.pk, provider=operator),
        "reopen": lambda: services.reopen_claim(claim_id=claim.pk, provider=operator),
        "approve": lambda: services.approve_claim(claim_id=claim.pk, by_user=staff_user),
        "pay": lambda: services.mark_claim_paid(claim_id=claim.pk, payment_reference="P-1",
                                                by_user=staff_user),
        "reject": lambda: services.reject_claim(claim_id=claim.pk, reason="No.",
                                                by_user=staff_user),
    }
    with pytest.raises(Conflict) as refused:
        calls[move]()
    assert refused.value.code == "claim_illegal_transition"
    assert refused.value.extra == {"current_status": status}
    claim.refresh_from_db()
    assert claim.status == status and claim.payment_reference == ""


def test_decisions_are_for_platform_staff_only(claim, operator, operator_user):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    for call in (lambda u: services.approve_claim(claim_id=claim.pk, by_user=u),
                 lambda u: services.reject_claim(claim_id=claim.pk, reason="x", by_user=u),
                 lambda u: services.mark_claim_paid(claim_id=claim.pk, payment_reference="x",
                                                    by_user=u)):
        for user in (operator_user, None):
            with pytest.raises(Forbidden) as refused:
                call(user)
            assert refused.value.code == "claim_staff_only"
    claim.refresh_from_db()
    assert claim.status == C.SUBMITTED


def test_a_rejection_needs_a_reason_and_a_payment_its_reference(claim, operator, staff_user):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    with pytest.raises(ValidationFailed) as refused:
        services.reject_claim(claim_id=claim.pk, reason="  ", by_user=staff_user)
    assert codes(refused) == ["claim_reason_required"]
    services.approve_claim(claim_id=claim.pk, by_user=staff_user)
    with pytest.raises(ValidationFailed) as refused:
        services.mark_claim_paid(claim_id=claim.pk, payment_reference="", by_user=staff_user)
    assert codes(refused) == ["claim_payment_reference_required"]
    with pytest.raises(ValidationFailed) as refused:
        services.mark_claim_paid(claim_id=claim.pk, payment_reference="x" * 121,
                                 by_user=staff_user)
    assert codes(refused) == ["claim_payment_reference_too_long"]
    claim.refresh_from_db()
    assert claim.status == C.APPROVED


def test_an_approved_claim_may_still_be_rejected(claim, operator, staff_user):
    services.submit_claim(claim_id=claim.pk, provider=operator)
    services.approve_claim(claim_id=claim.pk, by_user=staff_user)
    rejected = services.reject_claim(claim_id=claim.pk, reason="Duplicate of SC-9.",
                                     by_user=staff_user)
    assert rejected.status == C.REJECTED


def test_another_providers_claim_is_not_found(claim, other_operator):
    from core.errors import NotFound

    for call in (services.submit_claim, services.reopen_claim):
        with pytest.raises(NotFound) as refused:
            call(claim_id=claim.pk, provider=other_operator)
        assert refused.value.code == "claim_not_found"
    claim.refresh_from_db()
    assert claim.status == C.DRAFT
