"""The voucher caps under real concurrency (PostgreSQL): 32 threads with their own
connections book 32 different machines at the same instant against one grant with room
for exactly 10 such bookings (each wants 50.00 of a 500.00 grant)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from bookings import services
from bookings.models import Booking
from core.errors import Conflict
from pricing.models import Quote, QuoteLine
from tests.bookings.test_concurrency import race
from tests.factories import VoucherGrantFactory
from tests.fixtures.world import local, make_equipment

pytestmark = pytest.mark.django_db(transaction=True)
N = 32


@pytest.fixture
def machines(hub, category):
    return [make_equipment(hub, category, f"m-{i}", hourly_rate=Decimal("100.00"))
            for i in range(N)]


@pytest.fixture
def small_grant(programme, sme):
    return VoucherGrantFactory(programme=programme, organization=sme, amount=Decimal("500.00"))


def book_all(machines, sme, grant, shortfall):
    return race(N, lambda i: services.create_booking(
        equipment_id=machines[i].pk, organization=sme, start=local(3, 9), end=local(3, 10),
        purpose="race", grant_id=grant.pk, shortfall=shortfall))


def assert_used_is_the_sum_of_booked_lines(grant):
    grant.refresh_from_db()
    booked = QuoteLine.objects.filter(quote__grant=grant, quote__status=Quote.Status.BOOKED)
    assert grant.used == booked.aggregate(s=Sum("voucher_share"))["s"] == Decimal("500.00")


@pytest.mark.postgres
def test_sme_pays_what_the_voucher_cannot(machines, sme, small_grant):
    results = book_all(machines, sme, small_grant, "sme_pays")
    booked = [r for r in results if isinstance(r, Booking)]
    assert len(booked) == N, [r for r in results if not isinstance(r, Booking)]
    shares = sorted(Quote.objects.filter(kind=Quote.Kind.BOOKING)
                    .values_list("voucher_total", flat=True))
    assert shares == [Decimal("0.00")] * 22 + [Decimal("50.00")] * 10
    assert_used_is_the_sum_of_booked_lines(small_grant)


@pytest.mark.postgres
def test_refused_when_the_voucher_cannot_cover(machines, sme, small_grant):
    results = book_all(machines, sme, small_grant, "refuse")
    booked = [r for r in results if isinstance(r, Booking)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(booked) == 10, [r for r in results if not isinstance(r, Booking | Conflict)]
    assert len(refused) == 22 and {r.code for r in refused} == {"voucher_exhausted"}
    assert Booking.objects.count() == 10
    assert all(b.quote.voucher_total == Decimal("50.00") for b in
               Booking.objects.select_related("quote"))
    assert_used_is_the_sum_of_booked_lines(small_grant)
