"""One truth of what a booking's quote charges (``pricing.selectors.charged_lines``): the
statement builder and the SME's pages (booking, quotes, vouchers) read it, so a released
booking shows only what is owed and the voucher column adds up to what the grant used."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.statements.builder import chargeable
from bookings import services as bookings
from bookings.models import Booking
from pricing.models import Quote, QuoteLine
from pricing.selectors import charged_lines, charged_totals
from tests.fixtures.world import local

D = Decimal
K = QuoteLine.Kind


def book(sme, equipment, day=1, hours=2, **kwargs):
    return bookings.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(day, 9), end=local(day, 9 + hours),
                                   purpose="Trial", **kwargs)


@pytest.fixture
def late_cancelled(sme, equipment, rate, grant):
    """2 h at 400 + 200 set-up = 1,000.00, half paid by the voucher; cancelled by the SME
    an hour before the start: the late fee is the firm's alone."""
    booking = book(sme, equipment, grant_id=grant.pk)
    bookings.cancel_booking(booking_id=booking.pk, organization=sme,
                            now=booking.start - timedelta(hours=1))
    booking.refresh_from_db()
    return booking


def money(text: str) -> list[str]:
    return re.findall(r"¥([\d,]+\.\d\d)", text)


@pytest.mark.django_db
def test_a_late_cancellation_charges_the_fee_alone(late_cancelled, grant):
    quote = Quote.objects.get(pk=late_cancelled.quote_id)
    fee = quote.lines.get(kind=K.LATE_CANCELLATION).amount
    lines = charged_lines(quote, late_cancelled.status)
    assert [c.line.kind for c in lines if c.charged] == [K.LATE_CANCELLATION]
    totals = charged_totals(lines)
    assert (totals.total, totals.voucher_total, totals.sme_total) == (fee, 0, fee)
    assert totals.returned == D("500.00")
    # The statement builder charges the same.
    assert [(c.amount, c.voucher_share, c.sme_share) for c in chargeable(late_cancelled)] \
        == [(fee, 0, fee)]
    grant.refresh_from_db()
    assert grant.used == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "charged", "voucher"), [
    ("confirmed", ["usage", "setup"], D("500.00")),
    ("completed", ["usage", "setup"], D("500.00")),
    ("no_show", ["usage", "setup"], D("0.00")),
    ("rejected", [], D("0.00")),
    ("cancelled", [], D("0.00")),
])
def test_rules_per_booking_status(sme, equipment, rate, grant, status, charged, voucher):
    booking = book(sme, equipment, day=3, grant_id=grant.pk)
    lines = charged_lines(booking.quote, status)
    assert [c.line.kind for c in lines if c.charged] == charged
    assert sum(c.voucher_share for c in lines if c.charged) == voucher
    for c in lines:
        assert c.voucher_share + c.sme_share == c.amount
        assert c.voucher_share >= 0 and c.sme_share >= 0
    booking.status = status
    assert sum(c.voucher_share for c in chargeable(booking)) == voucher


@pytest.mark.django_db
def test_a_requested_booking_is_pending_not_charged(sme, equipment, rate, grant):
    booking = book(sme, equipment, day=3, grant_id=grant.pk)
    lines = charged_lines(booking.quote, Booking.Status.REQUESTED)
    assert {c.state for c in lines} == {"pending"}
    assert charged_totals(lines).voucher_total == D("500.00")
    booking.status = Booking.Status.REQUESTED
    assert chargeable(booking) == []


@pytest.mark.django_db
def test_booking_page_shows_the_fee_as_owed(client_sme, late_cancelled):
    quote = Quote.objects.get(pk=late_cancelled.quote_id)
    fee = quote.lines.get(kind=K.LATE_CANCELLATION).amount
    page = client_sme.get(f"/bookings/{late_cancelled.pk}/").content.decode()
    assert "Not charged" in page
    assert "voucher share returned" in page
    assert f"¥{quote.total:,.2f}" not in page  # 1,000.00 + fee is not what is owed
    assert f"<strong>¥{fee:,.2f}</strong>" in page


@pytest.mark.django_db
def test_quote_pages_show_what_is_owed(client_sme, late_cancelled):
    quote = Quote.objects.get(pk=late_cancelled.quote_id)
    fee = quote.lines.get(kind=K.LATE_CANCELLATION).amount
    detail = client_sme.get(f"/quotes/{quote.pk}/").content.decode()
    assert "Not charged" in detail and f"¥{quote.total:,.2f}" not in detail
    listing = client_sme.get("/quotes/").content.decode()
    assert f"¥{quote.total:,.2f}" not in listing
    assert f"¥{fee:,.2f}" in listing


@pytest.mark.django_db
def test_voucher_column_adds_up_to_used(client_sme, sme, equipment, rate, grant,
                                        late_cancelled):
    kept = book(sme, equipment, day=4, grant_id=grant.pk)
    grant.refresh_from_db()
    assert grant.used == kept.quote.voucher_total == D("500.00")
    page = client_sme.get("/vouchers/").content.decode()
    table = page[page.index("<tbody>", page.index("Bookings that used it")):]
    table = table[:table.index("</tbody>")]
    rows = table.split("<tr>")[1:]
    voucher_cells = [re.search(r'data-label="Voucher pays" class="num"><div>¥([\d,.]+)', r)
                     .group(1) for r in rows]
    assert sum(D(v.replace(",", "")) for v in voucher_cells) == grant.used
    assert "Returned to the voucher" in page
