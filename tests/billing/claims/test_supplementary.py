"""Supplementary claims: once a month's claim on a programme is submitted (or decided),
bookings completed later in that month go on a second claim for the same month, numbered
after it; at most one draft per programme × provider × month; a booking is claimed once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing.claims import services
from billing.models import ClaimLine, SettlementClaim
from core.errors import Conflict
from tests.billing.conftest import NOVEMBER, at, priced
from tests.bookings.test_concurrency import race

C = SettlementClaim.Status


def draft(operator, programme, month=NOVEMBER):
    return services.draft_claim(provider=operator, programme_id=programme.pk, month=month)


@pytest.fixture
def submitted(operator, programme, completed):
    """November's first claim (the booking of 10 November), submitted."""
    claim, _ = draft(operator, programme)
    return services.submit_claim(claim_id=claim.pk, provider=operator)


@pytest.mark.django_db
def test_a_booking_completed_after_submission_goes_on_a_supplementary_claim(
        operator, programme, grant, equipment, sme, completed, submitted):
    later = priced(equipment, sme, at(28), grant=grant, voucher="150.00")
    supplementary, created = draft(operator, programme)
    assert created and supplementary.pk != submitted.pk
    assert (supplementary.status, supplementary.month, supplementary.number) == (
        C.DRAFT, NOVEMBER, 2)
    assert supplementary.is_supplementary and not submitted.is_supplementary
    assert [line.booking_id for line in supplementary.lines.all()] == [later.pk]
    assert supplementary.amount == Decimal("150.00")
    # The first claim keeps its line; drafting again refreshes the supplementary draft.
    assert [line.booking_id for line in submitted.lines.all()] == [completed.pk]
    again, created_again = draft(operator, programme)
    assert (again.pk, created_again) == (supplementary.pk, False)
    assert ClaimLine.objects.count() == 2


@pytest.mark.django_db
def test_claims_are_numbered_in_order_per_month(operator, programme, grant, equipment, sme,
                                                submitted, staff_user):
    priced(equipment, sme, at(26), grant=grant, voucher="10.00")
    second, _ = draft(operator, programme)
    services.submit_claim(claim_id=second.pk, provider=operator)
    services.approve_claim(claim_id=second.pk, by_user=staff_user)
    priced(equipment, sme, at(27), grant=grant, voucher="20.00")
    third, _ = draft(operator, programme)
    priced(equipment, sme, at(5, month=12), grant=grant, voucher="30.00")
    december, _ = draft(operator, programme, month=NOVEMBER.replace(month=12))
    assert [c.number for c in (submitted, second, third, december)] == [1, 2, 3, 1]
    november = SettlementClaim.objects.filter(month=NOVEMBER).order_by("number")
    assert [c.pk for c in november] == [submitted.pk, second.pk, third.pk]


@pytest.mark.django_db
def test_at_most_one_draft_per_programme_provider_and_month(operator, programme, completed):
    claim, _ = draft(operator, programme)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementClaim.objects.create(programme=programme, provider=operator, month=NOVEMBER,
                                       number=2)
    claim.status = C.SUBMITTED
    claim.save(update_fields=["status"])
    SettlementClaim.objects.create(programme=programme, provider=operator, month=NOVEMBER,
                                   number=2)
    with pytest.raises(IntegrityError), transaction.atomic():  # the number is taken
        SettlementClaim.objects.create(programme=programme, provider=operator, month=NOVEMBER,
                                       number=2, status=C.SUBMITTED)


@pytest.mark.django_db
def test_a_rejected_claim_is_reopened_only_when_no_other_draft_is_open(
        operator, programme, grant, equipment, sme, submitted, staff_user):
    services.reject_claim(claim_id=submitted.pk, reason="Stamp missing.", by_user=staff_user)
    priced(equipment, sme, at(28), grant=grant, voucher="150.00")
    supplementary, _ = draft(operator, programme)
    with pytest.raises(Conflict) as refused:
        services.reopen_claim(claim_id=submitted.pk, provider=operator)
    assert refused.value.code == "claim_draft_open"
    assert str(supplementary.pk) in str(refused.value.message)
    submitted.refresh_from_db()
    assert submitted.status == C.REJECTED
    services.submit_claim(claim_id=supplementary.pk, provider=operator)
    reopened = services.reopen_claim(claim_id=submitted.pk, provider=operator)
    assert reopened.status == C.DRAFT


@pytest.mark.django_db
def test_the_console_says_supplementary(console, operator, programme, grant, equipment, sme,
                                        submitted):
    priced(equipment, sme, at(28), grant=grant, voucher="150.00")
    response = console.post(reverse("billing-console:claim-draft"),
                            {"programme": programme.pk, "month": "2026-11"}, follow=True)
    supplementary = SettlementClaim.objects.get(number=2)
    assert response.redirect_chain[-1][0] == reverse("billing-console:claim",
                                                     args=[supplementary.pk])
    text = response.content.decode()
    assert "supplementary claim, the month's no. 2" in text
    assert "bookings completed since" in text
    listing = console.get(reverse("billing-console:claims")).content.decode()
    assert listing.index(f"SC-{submitted.pk}<") < listing.index(f"SC-{supplementary.pk}<")
    assert listing.count("the month's no.") == 1


@pytest.mark.django_db
def test_the_api_shows_the_number(operator_client, operator, programme, grant, equipment,
                                  sme, submitted):
    priced(equipment, sme, at(28), grant=grant, voucher="150.00")
    response = operator_client.post("/api/v1/claims/",
                                    {"programme": programme.pk, "month": "2026-11"},
                                    format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["number"], response.json()["supplementary"]) == (2, True)
    listed = operator_client.get("/api/v1/claims/?month=2026-11").json()["results"]
    assert [(c["number"], c["month"]) for c in listed] == [(1, "2026-11"), (2, "2026-11")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_supplementary_drafts_at_once_make_one(operator, programme, grant, equipment,
                                                     sme, completed, submitted):
    later = [priced(equipment, sme, at(day), grant=grant, voucher="100.00")
             for day in (26, 27)]
    results = race(8, lambda i: draft(operator, programme))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(1 for _, created in results if created) == 1
    supplementary = SettlementClaim.objects.get(status=C.DRAFT)
    assert supplementary.number == 2
    assert sorted(supplementary.lines.values_list("booking_id", flat=True)) == sorted(
        b.pk for b in later)
    assert SettlementClaim.objects.count() == 2
