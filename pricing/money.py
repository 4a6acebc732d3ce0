"""Money arithmetic, pure (DESIGN.md, "Money"): decimal CNY rounded to the fen, half up,
once per line; the hours of a period; the voucher split of a quote's lines.

Nothing here touches the database: the pricing services and every reader of quote lines
(statements, claims, reports) use these so that one rounding rule holds everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# A quote's lines and total stay below this: a booking's price (``Booking.price``, 12 digits
# of which 2 decimals) is its quote's total.
QUOTE_LIMIT = Decimal("10000000000")

# Kinds of line a voucher may pay a share of (``QuoteLine.VOUCHER_ELIGIBLE``, as strings so
# this module needs no model import).
VOUCHER_ELIGIBLE = frozenset({"usage", "assisted", "setup"})


def fen(x) -> Decimal:
    """``x`` (Decimal, int or a decimal string; never a float) rounded to the fen, half up."""
    if isinstance(x, float):
        raise TypeError("money is never a float")
    return Decimal(x).quantize(FEN, rounding=ROUND_HALF_UP)


def hours_between(start: datetime, end: datetime) -> Decimal:
    """The length of ``[start, end)`` in hours, from whole seconds, unrounded (a usage
    line's amount is ``fen(hours × rate)`` from this exact figure; its stored quantity is
    the same figure to 4 places, see :func:`quantity`)."""
    seconds = Decimal((end - start) // timedelta(seconds=1))
    return seconds / Decimal(3600)


def quantity(x) -> Decimal:
    """A quantity as a quote line stores it: 4 decimal places, half up."""
    return Decimal(x).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def plain_number(x) -> str:
    """A quantity without trailing zeros or an exponent: 2.5000 → "2.5", 3.0000 → "3",
    100 → "100"."""
    return f"{Decimal(x).normalize():f}"


def is_whole(x) -> bool:
    """Whether ``x`` is a whole number (pieces and sets are counted whole)."""
    return Decimal(x) == Decimal(x).to_integral_value()


# Units counted whole: a fractional quantity of these is refused (``Unit`` values).
WHOLE_UNITS = frozenset({"piece", "set"})


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """A line's amount: quantity × unit price, rounded once to the fen."""
    return fen(Decimal(quantity) * Decimal(unit_price))


def split_line(amount: Decimal, *, share: Decimal, room: Decimal | None,
               eligible: bool = True) -> tuple[Decimal, Decimal]:
    """(voucher share, SME share) of one line of ``amount``: the voucher pays
    ``fen(amount × share)`` but never more than ``room`` (None: no limit) nor less than
    zero; an ineligible line is the SME's alone. The two always add up to ``amount``."""
    amount = fen(amount)
    if not eligible or amount <= 0:
        return ZERO, amount
    voucher = fen(amount * Decimal(share))
    if room is not None:
        voucher = min(voucher, max(fen(room), ZERO))
    voucher = max(min(voucher, amount), ZERO)
    return voucher, amount - voucher


def _kind_and_amount(line) -> tuple[str, Decimal, bool]:
    if isinstance(line, tuple | list):
        kind, amount = line[0], line[1]
        eligible = line[2] if len(line) > 2 else True
    else:
        kind, amount = line.kind, line.amount
        eligible = getattr(line, "eligible", True)
    return str(kind), Decimal(amount), bool(eligible)


def split(lines: Iterable, *, share: Decimal, room: Decimal | None
          ) -> list[tuple[Decimal, Decimal]]:
    """The voucher split of ``lines`` (in order: position order), one (voucher, sme) pair
    per line. A line is an object with ``kind`` and ``amount`` (a LineDraft, a QuoteLine),
    or a ``(kind, amount)`` tuple; only kinds usage, assisted and setup are eligible (an
    object may also say ``eligible=False``). ``room`` is what the caps still allow for the
    whole quote (None: no cap); it is used up line by line in order, so the voucher total
    never exceeds it."""
    out: list[tuple[Decimal, Decimal]] = []
    left = None if room is None else max(fen(room), ZERO)
    for line in lines:
        kind, amount, eligible = _kind_and_amount(line)
        voucher, sme = split_line(amount, share=share, room=left,
                                  eligible=eligible and kind in VOUCHER_ELIGIBLE)
        if left is not None:
            left -= voucher
        out.append((voucher, sme))
    return out
