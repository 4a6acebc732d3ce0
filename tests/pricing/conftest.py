"""The pricing world: the shared hub (24/7, Asia/Shanghai) with a rate card for its
machine (400.00 an hour, 100.00 an hour staff-assisted, 200.00 set-up, one priced item),
and a 50 % voucher programme accrediting the hub with a grant of 10,000.00 for the SME."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.factories import (
    EquipmentRateFactory,
    PricedItemFactory,
    RateCardFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
)


@pytest.fixture
def card(hub):
    return RateCardFactory(hub=hub, name="2026 rates", valid_from=date(2020, 1, 1))


@pytest.fixture
def rate(card, equipment):
    return EquipmentRateFactory(card=card, equipment=equipment, hourly_rate=Decimal("400.00"),
                                assisted_hourly_surcharge=Decimal("100.00"),
                                setup_fee=Decimal("200.00"))


@pytest.fixture
def item(card):
    return PricedItemFactory(card=card, code="ti-blank", name="Titanium blank",
                             unit_price=Decimal("35.50"))


@pytest.fixture
def programme(hub):
    return VoucherProgrammeFactory(providers=[hub], subsidy_share=Decimal("0.5000"),
                                   valid_from=date(2020, 1, 1), valid_until=date(2035, 12, 31))


@pytest.fixture
def grant(programme, sme):
    return VoucherGrantFactory(programme=programme, organization=sme,
                               amount=Decimal("10000.00"), valid_from=date(2020, 1, 1),
                               valid_until=date(2035, 12, 31))
