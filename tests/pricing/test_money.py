"""pricing.money: the fen, hours, and the voucher split (unit and property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing.money import fen, hours_between, split, split_line

D = Decimal


@pytest.mark.parametrize(("value", "expected"), [
    (D("1.005"), D("1.01")), (D("1.004"), D("1.00")), (D("2.675"), D("2.68")),
    (D("-1.005"), D("-1.01")), (3, D("3.00")), ("0.125", D("0.13"))])
def test_fen_rounds_half_up(value, expected):
    assert fen(value) == expected


def test_fen_refuses_floats():
    with pytest.raises(TypeError):
        fen(1.005)


def test_hours_between_is_exact():
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert hours_between(start, start + timedelta(minutes=90)) == D("1.5")
    assert fen(hours_between(start, start + timedelta(minutes=10)) * D("1000")) == D("166.67")


def test_split_line_caps_and_eligibility():
    assert split_line(D("100.00"), share=D("0.5"), room=None) == (D("50.00"), D("50.00"))
    assert split_line(D("100.00"), share=D("0.5"), room=D("20.00")) == (D("20.00"), D("80.00"))
    assert split_line(D("100.00"), share=D("0.5"), room=D("0")) == (D("0.00"), D("100.00"))
    assert split_line(D("100.00"), share=D("0.5"), room=None, eligible=False) == (
        D("0.00"), D("100.00"))
    assert split_line(D("0.01"), share=D("0.5"), room=None) == (D("0.01"), D("0.00"))  # half up


def test_split_allocates_room_in_order_and_only_to_eligible_kinds():
    lines = [("usage", D("300.00")), ("item", D("50.00")), ("assisted", D("100.00")),
             ("setup", D("80.00")), ("late_cancellation", D("40.00"))]
    assert split(lines, share=D("0.5"), room=D("180.00")) == [
        (D("150.00"), D("150.00")), (D("0.00"), D("50.00")), (D("30.00"), D("70.00")),
        (D("0.00"), D("80.00")), (D("0.00"), D("40.00"))]


KINDS = st.sampled_from(["usage", "assisted", "setup", "item", "late_cancellation"])
AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=2)
SHARES = st.decimals(min_value=D("0.0001"), max_value=1, places=4)
ROOMS = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=2))


@given(st.lists(st.tuples(KINDS, AMOUNTS), max_size=12), SHARES, ROOMS)
def test_split_properties(lines, share, room):
    """Each line: voucher + SME = amount, neither negative; only eligible kinds get a
    voucher share, at most fen(amount × share); the voucher total never passes the room."""
    parts = split(lines, share=share, room=room)
    assert len(parts) == len(lines)
    for (kind, amount), (voucher, sme) in zip(lines, parts, strict=True):
        assert voucher + sme == amount
        assert voucher >= 0 and sme >= 0
        assert voucher <= fen(amount * share)
        if kind not in ("usage", "assisted", "setup"):
            assert voucher == 0
    total = sum((v for v, _s in parts), D(0))
    if room is not None:
        assert total <= room
        wanted = sum((fen(a * share) for k, a in lines if k in ("usage", "assisted", "setup")),
                     D(0))
        assert total == min(wanted, room)  # room is used up before any line goes short
