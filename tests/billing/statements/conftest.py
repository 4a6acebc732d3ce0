"""Priced bookings for the statement tests: made with the shared world (operator
AutoWorks with the Yizhuang hub and its DMU 50 at 400.00 an hour, SMEs Precision Parts
and Green Motor) and tests/factories.py's ``booked_quote``, in November 2026 (Shanghai)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bookings.models import Booking
from pricing.models import Quote, QuoteLine, Unit
from tests.billing.conftest import S
from tests.factories import (
    QuoteLineFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
    quote_totals,
)


def add_line(booking: Booking, *, kind: str, amount: str, voucher: str = "0.00",
             quantity: str = "1", unit: str = Unit.SESSION) -> QuoteLine:
    """Another line on the booking's quote (a set-up fee, an item, a late-cancellation
    fee), totals kept."""
    quote = booking.quote
    position = quote.lines.count() + 1
    line = QuoteLineFactory(quote=quote, position=position, kind=kind,
                            equipment=booking.equipment, quantity=Decimal(quantity), unit=unit,
                            unit_price=Decimal(amount) / Decimal(quantity),
                            amount=Decimal(amount), voucher_share=Decimal(voucher))
    quote_totals(quote)
    return line


def set_status(booking: Booking, status: str) -> Booking:
    """What the lifecycle services do to the quote, in short: a cancelled, rejected or
    missed booking's quote is released."""
    booking.status = status
    booking.save(update_fields=["status", "updated"])
    if status in (S.CANCELLED, S.REJECTED, S.NO_SHOW):
        Quote.objects.filter(pk=booking.quote_id).update(status=Quote.Status.RELEASED)
    booking.refresh_from_db()
    return booking


@pytest.fixture
def grant(sme, hub):
    programme = VoucherProgrammeFactory(valid_from=date(2026, 1, 1),
                                        valid_until=date(2027, 12, 31))
    programme.providers.set([hub])
    return VoucherGrantFactory(programme=programme, organization=sme,
                               valid_from=date(2026, 1, 1), valid_until=date(2027, 12, 31))
