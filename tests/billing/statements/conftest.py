"""Priced bookings for the statement tests: made with the shared world (operator
AutoWorks with the Yizhuang hub and its DMU 50 at 400.00 an hour, SMEs Precision Parts
and Green Motor) and tests/factories.py's ``booked_quote``, in November 2026 (Shanghai)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bookings.models import Booking
from pricing.models import Quote, QuoteLine, Unit
from tests.factories import (
    QuoteLineFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
    booked_quote,
    quote_totals,
)
from tests.fixtures.world import make_booking

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = date(2026, 11, 1)
OCTOBER = date(2026, 10, 1)
S = Booking.Status


def at(day: int, hour: int = 9, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def priced(equipment, organization, start: datetime, *, hours: int = 2,
           status: str = S.COMPLETED, grant=None, voucher: str = "0.00") -> Booking:
    """A booking of ``hours`` at the equipment's rate (400.00/h: 800.00 for two hours),
    with its booking quote; ``voucher`` of it paid by ``grant``."""
    booking = make_booking(equipment, organization, start, start + timedelta(hours=hours),
                           status=status)
    booked_quote(booking, grant=grant, voucher_share=Decimal(voucher))
    booking.refresh_from_db()
    return booking


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
