"""What the statement and claim tests share: priced bookings made on the shared world
(operator AutoWorks with the Yizhuang hub and its DMU 50 at 400.00 an hour, SMEs Precision
Parts and Green Motor) with tests/factories.py's ``booked_quote``, in November 2026
(Shanghai)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bookings.models import Booking
from pricing.models import Quote
from tests.factories import booked_quote
from tests.fixtures.world import make_booking

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = date(2026, 11, 1)
OCTOBER = date(2026, 10, 1)
S = Booking.Status


def at(day: int, hour: int = 9, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def priced(equipment, organization, start: datetime, *, hours: int = 2,
           status: str = S.COMPLETED, grant=None, voucher: str = "0.00",
           quote_status: str = Quote.Status.BOOKED) -> Booking:
    """A booking of ``hours`` at the equipment's rate (400.00/h: 800.00 for two hours),
    with its booking quote; ``voucher`` of it paid by ``grant``."""
    booking = make_booking(equipment, organization, start, start + timedelta(hours=hours),
                           status=status)
    booked_quote(booking, grant=grant, voucher_share=Decimal(voucher), status=quote_status)
    booking.refresh_from_db()
    return booking
