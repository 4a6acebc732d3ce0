"""Drafting the same claim at once (two operators' staff, or a retried request): one claim
row, every line on it once; submitting while a refresh runs never loses a move."""

from __future__ import annotations

import pytest

from billing.claims import services
from billing.models import ClaimLine, SettlementClaim
from core.errors import Conflict
from tests.billing.conftest import NOVEMBER, at, priced
from tests.bookings.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.postgres
def test_eight_first_drafts_at_once_make_one_claim(operator, programme, grant, equipment,
                                                   sme):
    bookings = [priced(equipment, sme, at(day), grant=grant, voucher="100.00")
                for day in (3, 4, 5)]
    results = race(8, lambda i: services.draft_claim(
        provider=operator, programme_id=programme.pk, month=NOVEMBER))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(1 for _, created in results if created) == 1
    claim = SettlementClaim.objects.get()
    assert {r[0].pk for r in results} == {claim.pk}
    assert sorted(ClaimLine.objects.values_list("booking_id", flat=True)) == sorted(
        b.pk for b in bookings)
    claim.refresh_from_db()
    assert claim.amount == sum(line.amount for line in claim.lines.all())


@pytest.mark.postgres
def test_submits_racing_refreshes_leave_a_consistent_claim(operator, programme, grant,
                                                           equipment, sme):
    priced(equipment, sme, at(3), grant=grant, voucher="100.00")
    claim, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER)

    def attempt(i):
        if i % 2:
            return services.submit_claim(claim_id=claim.pk, provider=operator)
        return services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER)

    results = race(6, attempt)
    submitted = [r for r in results if isinstance(r, SettlementClaim)]
    assert len(submitted) == 1  # one submit wins; the others are illegal moves
    assert all(isinstance(r, tuple | SettlementClaim | Conflict) for r in results), results
    claim.refresh_from_db()
    assert claim.status == SettlementClaim.Status.SUBMITTED
    assert claim.lines.count() == 1 and claim.amount == claim.lines.get().amount
