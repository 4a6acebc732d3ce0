"""The claims' world: the shared one (operator AutoWorks with the Yizhuang hub and its
DMU 50 at 400.00 an hour, PhoneTech another operator, SMEs Precision Parts and Green
Motor), a voucher programme accrediting the Yizhuang hub (50 %) with a grant to Precision
Parts, and priced bookings made with tests/factories.py's ``booked_quote``, in November
2026 (Shanghai)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import Statement, StatementLine
from bookings.models import Booking
from organizations.models import Membership
from tests.billing.conftest import SHANGHAI, at, priced
from tests.factories import (
    MembershipFactory,
    UserFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
)
from tests.fixtures.world import make_equipment


def programme_for(*hubs, **fields):
    fields.setdefault("valid_from", date(2026, 1, 1))
    fields.setdefault("valid_until", date(2027, 12, 31))
    return VoucherProgrammeFactory(providers=list(hubs), **fields)


def grant_for(programme, organization, **fields):
    return VoucherGrantFactory(programme=programme, organization=organization,
                               valid_from=programme.valid_from,
                               valid_until=programme.valid_until, **fields)


def stated(booking: Booking, *, number: int = 1) -> Statement:
    """An issued statement of the booking's month with its quote's lines."""
    month = booking.start.astimezone(SHANGHAI).date().replace(day=1)
    quote = booking.quote
    statement = Statement.objects.create(
        operator=booking.equipment.hub.operator, organization=booking.organization,
        month=month, year=month.year, number=number, total=quote.total,
        voucher_total=quote.voucher_total, sme_total=quote.sme_total,
        issued_at=booking.end + timedelta(days=3))
    for position, line in enumerate(quote.lines.all(), start=1):
        StatementLine.objects.create(
            statement=statement, position=position, booking=booking, quote_line=line,
            line_kind=line.kind, service_date=month, quantity=line.quantity,
            unit=line.unit, unit_price=line.unit_price, amount=line.amount,
            voucher_share=line.voucher_share, sme_share=line.sme_share, grant=quote.grant)
    return statement


@pytest.fixture
def programme(hub):
    return programme_for(hub, name="Beijing innovation voucher 2026",
                         reference="BJ-CXQ-2026")


@pytest.fixture
def grant(programme, sme):
    return grant_for(programme, sme, reference_number="BJKW-2026-0042",
                     amount=Decimal("10000.00"))


@pytest.fixture
def other_grant(programme, other_sme):
    return grant_for(programme, other_sme, reference_number="BJKW-2026-0077",
                     amount=Decimal("5000.00"))


@pytest.fixture
def completed(equipment, sme, grant):
    """A completed booking on 10 November with 400.00 of its 800.00 paid by the voucher."""
    return priced(equipment, sme, at(10), grant=grant, voucher="400.00")


@pytest.fixture
def second_equipment(hub, category):
    return make_equipment(hub, category, "robot-1", name="UR10 cell")


@pytest.fixture
def staff_user(db):
    return UserFactory(email="staff@testbed.test", is_staff=True, is_superuser=True)


@pytest.fixture
def operator_user(operator):
    return MembershipFactory(organization=operator, role=Membership.Role.ADMIN,
                             user=UserFactory(email="admin@autoworks.test")).user


@pytest.fixture
def console(operator_user) -> Client:
    client = Client()
    client.force_login(operator_user)
    return client
