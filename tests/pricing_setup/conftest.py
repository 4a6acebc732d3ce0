"""Fixtures of the money set-up tests: a staff user, logged-in SME and operator members,
a rate card on the shared world's hub, and a programme accrediting it with a grant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from organizations.models import Membership
from tests.factories import (
    EquipmentRateFactory,
    MembershipFactory,
    PricedItemFactory,
    RateCardFactory,
    UserFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@testbed.test", username="staff@testbed.test",
                       is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff) -> Client:
    return logged_in(staff)


@pytest.fixture
def sme_user(sme):
    user = UserFactory(email="lead@precision.test", username="lead@precision.test")
    MembershipFactory(user=user, organization=sme, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def sme_portal(sme_user) -> Client:
    return logged_in(sme_user)


@pytest.fixture
def operator_user(operator):
    user = UserFactory(email="ops@autoworks.test", username="ops@autoworks.test")
    MembershipFactory(user=user, organization=operator, role=Membership.Role.OPERATOR)
    return user


@pytest.fixture
def operator_portal(operator_user) -> Client:
    return logged_in(operator_user)


@pytest.fixture
def card(hub, equipment):
    """A card from a year ago: the equipment at 100/h, +50/h assisted, 80 set-up, one item."""
    card = RateCardFactory(hub=hub, name="Prices")
    EquipmentRateFactory(card=card, equipment=equipment, hourly_rate=Decimal("100.00"),
                         assisted_hourly_surcharge=Decimal("50.00"),
                         setup_fee=Decimal("80.00"))
    PricedItemFactory(card=card, code="al-block", name_en="Aluminium block",
                      name_zh_hans="铝块", unit_price=Decimal("12.50"))
    return card


@pytest.fixture
def programme(hub):
    return VoucherProgrammeFactory(providers=[hub], name_en="Capital voucher",
                                   name_zh_hans="首都科技创新券")


@pytest.fixture
def grant(programme, sme):
    return VoucherGrantFactory(programme=programme, organization=sme,
                               amount=Decimal("10000.00"))
