"""The chargeable-lines rules (billing/statements/builder.py), status by status, and what
the next statement carries: fresh charges, credits for stated bookings that changed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.models import StatementLine
from billing.statements import builder, services
from pricing.models import QuoteLine
from tests.billing.conftest import NOVEMBER, OCTOBER, S, at, priced

from .conftest import add_line, set_status

D = Decimal
CHARGE, CREDIT = StatementLine.Kind.CHARGE, StatementLine.Kind.CREDIT
NOW = at(1, 9, month=12)


def split(charges):
    return [(c.kind, c.line_kind, c.amount, c.voucher_share, c.sme_share) for c in charges]


@pytest.mark.parametrize("status", [S.CONFIRMED, S.CHECKED_IN, S.COMPLETED])
def test_held_and_carried_out_bookings_are_chargeable_as_split(equipment, sme, grant, status):
    booking = priced(equipment, sme, at(3), status=status, grant=grant, voucher="400.00")
    add_line(booking, kind=QuoteLine.Kind.SETUP, amount="150.00", voucher="75.00")
    assert split(builder.chargeable(booking)) == [
        (CHARGE, "usage", D("800.00"), D("400.00"), D("400.00")),
        (CHARGE, "setup", D("150.00"), D("75.00"), D("75.00")),
    ]
    assert builder.chargeable(booking)[0].grant_id == grant.pk
    assert builder.chargeable(booking)[0].service_date == date(2026, 11, 3)


def test_a_no_show_is_all_the_firms(equipment, sme, grant):
    booking = priced(equipment, sme, at(3), status=S.NO_SHOW, grant=grant, voucher="400.00")
    charges = builder.chargeable(booking)
    assert split(charges) == [(CHARGE, "usage", D("800.00"), D("0.00"), D("800.00"))]
    assert charges[0].grant_id is None


@pytest.mark.parametrize("status", [S.REQUESTED, S.REJECTED, S.CANCELLED])
def test_open_rejected_and_free_cancellations_charge_nothing(equipment, sme, status):
    assert builder.chargeable(priced(equipment, sme, at(3), status=status)) == []


def test_a_late_cancellation_charges_its_fee_alone(equipment, sme, grant):
    booking = priced(equipment, sme, at(3), status=S.CANCELLED, grant=grant, voucher="400.00")
    add_line(booking, kind=QuoteLine.Kind.LATE_CANCELLATION, amount="400.00")
    assert split(builder.chargeable(booking)) == [
        (CHARGE, "late_cancellation", D("400.00"), D("0.00"), D("400.00"))]


def test_a_held_booking_never_charges_a_late_cancellation_line(equipment, sme):
    booking = priced(equipment, sme, at(3), status=S.COMPLETED)
    add_line(booking, kind=QuoteLine.Kind.LATE_CANCELLATION, amount="400.00")
    assert [c.line_kind for c in builder.chargeable(booking)] == ["usage"]


def test_a_booking_without_a_quote_charges_nothing(equipment, sme):
    from tests.fixtures.world import make_booking

    booking = make_booking(equipment, sme, at(3), at(3, 11), status=S.COMPLETED)
    assert builder.chargeable(booking) == []


def test_pending_lines_are_the_months_bookings_per_sme(equipment, sme, other_sme, other_operator):
    from tests.factories import HubFactory
    from tests.fixtures.world import make_equipment

    mine = priced(equipment, sme, at(3))
    theirs = priced(equipment, other_sme, at(4), status=S.CONFIRMED)
    priced(equipment, sme, at(2, 9, month=12))  # December
    priced(equipment, sme, at(30, 9, month=10))  # October, never stated: October's
    elsewhere = make_equipment(HubFactory(operator=other_operator, slug="shenzhen"),
                               equipment.category, "cnc-9")
    priced(elsewhere, sme, at(5))  # another operator's
    lines = builder.pending_lines(operator=equipment.hub.operator, month=NOVEMBER)
    assert [(c.booking, c.amount) for c in lines] == [(theirs, D("800.00")),
                                                      (mine, D("800.00"))]  # by name
    only = builder.pending_lines(operator=equipment.hub.operator, organization=sme,
                                 month=NOVEMBER)
    assert [c.booking for c in only] == [mine]
    assert builder.pending_lines(operator=sme, month=NOVEMBER) == []


def test_the_month_is_the_hubs(equipment, sme):
    # 23:30 on 31 October in Shanghai is 15:30 UTC: October's, not November's.
    priced(equipment, sme, at(31, 23, month=10).replace(minute=30), hours=1)
    assert builder.pending_lines(operator=equipment.hub.operator, month=NOVEMBER) == []
    assert len(builder.pending_lines(operator=equipment.hub.operator, month=OCTOBER)) == 1


def test_a_cancellation_after_the_statement_is_credited_next_month(equipment, sme, grant):
    booking = priced(equipment, sme, at(20, month=10), status=S.CONFIRMED, grant=grant,
                     voucher="400.00")
    operator = equipment.hub.operator
    [october] = services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    assert (october.total, october.voucher_total, october.sme_total) == (
        D("800.00"), D("400.00"), D("400.00"))
    set_status(booking, S.CANCELLED)
    add_line(booking, kind=QuoteLine.Kind.LATE_CANCELLATION, amount="400.00")
    lines = builder.pending_lines(operator=operator, month=NOVEMBER)
    assert split(lines) == [
        (CREDIT, "usage", D("-800.00"), D("-400.00"), D("-400.00")),
        (CHARGE, "late_cancellation", D("400.00"), D("0.00"), D("400.00")),
    ]
    assert lines[0].quantity == D("-2")
    [november] = services.issue_statements(operator=operator, month=NOVEMBER, now=NOW)
    assert (november.total, november.voucher_total, november.sme_total) == (
        D("-400.00"), D("-400.00"), D("0.00"))
    # Stated and credited: nothing more to carry.
    assert builder.pending_lines(operator=operator, month=date(2026, 12, 1)) == []


def test_a_no_show_after_the_statement_moves_the_voucher_share_to_the_firm(equipment, sme,
                                                                           grant):
    booking = priced(equipment, sme, at(20, month=10), status=S.CONFIRMED, grant=grant,
                     voucher="400.00")
    operator = equipment.hub.operator
    services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    set_status(booking, S.NO_SHOW)
    assert split(builder.pending_lines(operator=operator, month=NOVEMBER)) == [
        (CREDIT, "usage", D("-800.00"), D("-400.00"), D("-400.00")),
        (CHARGE, "usage", D("800.00"), D("0.00"), D("800.00")),
    ]


def test_completion_of_a_stated_booking_changes_nothing(equipment, sme, grant):
    booking = priced(equipment, sme, at(20, month=10), status=S.CONFIRMED, grant=grant,
                     voucher="400.00")
    operator = equipment.hub.operator
    services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    set_status(booking, S.COMPLETED)
    assert builder.pending_lines(operator=operator, month=NOVEMBER) == []


def test_a_late_chargeable_booking_of_a_stated_month_is_not_lost(equipment, sme):
    operator = equipment.hub.operator
    priced(equipment, sme, at(10, month=10))
    waiting = priced(equipment, sme, at(12, month=10), status=S.REQUESTED)
    services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    set_status(waiting, S.CONFIRMED)  # approved after October was stated
    assert [c.booking for c in builder.pending_lines(operator=operator, month=NOVEMBER)] == [
        waiting]


def test_pending_lines_cost_a_fixed_number_of_queries(equipment, sme, other_sme, grant,
                                                      django_assert_max_num_queries):
    operator = equipment.hub.operator
    for day in range(1, 4):
        priced(equipment, sme, at(day, month=10), status=S.CONFIRMED)
    services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    for booking in operator.hubs.first().equipment.first().bookings.all():
        set_status(booking, S.CANCELLED)
    for day in range(1, 11):
        priced(equipment, other_sme if day % 2 else sme, at(day), grant=grant, voucher="100.00")
    with django_assert_max_num_queries(9):
        lines = builder.pending_lines(operator=operator, month=NOVEMBER)
    assert len(lines) == 13
