"""Hostile numbers to the set-up services: a refusal at the field, never an exception."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import ValidationFailed
from pricing import setup
from pricing.models import VoucherGrant, VoucherProgramme

from .test_setup_services import programme_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("amount", ["1e309", "-1e309", "NaN", "Infinity", "1e12", "abc"])
def test_hostile_grant_amounts_are_refused_at_the_field(staff, programme, sme, amount):
    with pytest.raises(ValidationFailed) as exc:
        setup.grant_voucher(programme_id=programme.pk, organization=sme, amount=amount,
                            valid_from=programme.valid_from, valid_until=programme.valid_until,
                            reference_number="N-1", by_user=staff)
    assert "amount" in {v.field for v in exc.value.violations}
    assert not VoucherGrant.objects.exists()


@pytest.mark.parametrize("share", ["NaN", "abc", "1e309", "-0.1"])
def test_hostile_subsidy_shares_are_refused_at_the_field(staff, share):
    with pytest.raises(ValidationFailed) as exc:
        setup.save_programme(data=programme_data(subsidy_share=share,
                                                 valid_from=date(2026, 1, 1)), by_user=staff)
    assert {v.field: v.code for v in exc.value.violations}["subsidy_share"] == (
        "programme_share_range")
    assert not VoucherProgramme.objects.exists()
