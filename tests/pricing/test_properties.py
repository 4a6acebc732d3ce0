"""Property tests against the real services (SQLite, the database rolled back per
example): for any sequence of bookings (with or without a voucher, either shortfall
choice), cancellations early and late, rejections and no-shows, every quote's lines sum to
its totals, each line splits into voucher + SME share with neither negative, and the caps
(the grant's amount, the programme's cap per use and per firm per year) are never passed;
each grant's ``used`` is the voucher share of its booked lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import services as bookings
from bookings.models import Booking
from core.errors import DomainError
from pricing.models import Quote, QuoteLine, VoucherGrant
from tests.factories import EquipmentRateFactory, VoucherGrantFactory
from tests.fixtures.world import local, make_equipment

D = Decimal

book_op = st.tuples(st.just("book"), st.integers(0, 1), st.integers(1, 6), st.integers(9, 14),
                    st.integers(1, 3), st.sampled_from(["sme_pays", "refuse"]),
                    st.sampled_from([None, 0, 1]))
end_op = st.tuples(st.sampled_from(["cancel", "cancel_late", "operator_cancel", "no_show"]),
                   st.integers(0, 20))
ops = st.lists(st.one_of(book_op, book_op, end_op), min_size=1, max_size=14)


@pytest.fixture
def world(sme, operator, hub, category, card, programme):
    programme.cap_per_use = D("300.00")
    programme.cap_per_sme_year = D("1000.00")
    programme.save()
    machines = [make_equipment(hub, category, f"m-{i}", hourly_rate=D("150.00"))
                for i in range(2)]
    EquipmentRateFactory(card=card, equipment=machines[0], hourly_rate=D("133.33"),
                         assisted_hourly_surcharge=D("0"), setup_fee=D("45.55"))
    grants = [VoucherGrantFactory(programme=programme, organization=sme, amount=D("700.00")),
              VoucherGrantFactory(programme=programme, organization=sme, amount=D("555.55"))]
    return {"sme": sme, "operator": operator, "machines": machines, "grants": grants,
            "programme": programme}


def run(op, world, made: list[Booking]) -> None:
    sme, operator = world["sme"], world["operator"]
    if op[0] == "book":
        _k, machine, day, hour, hours, shortfall, grant = op
        grant_id = None if grant is None else world["grants"][grant].pk
        made.append(bookings.create_booking(
            equipment_id=world["machines"][machine].pk, organization=sme,
            start=local(day, hour), end=local(day, hour + hours), purpose="Trial",
            grant_id=grant_id, shortfall=shortfall))
        return
    if not made:
        return
    booking = made[op[1] % len(made)]
    if op[0] == "cancel":
        bookings.cancel_booking(booking_id=booking.pk, organization=sme,
                                now=booking.start - timedelta(days=3))
    elif op[0] == "cancel_late":
        bookings.cancel_booking(booking_id=booking.pk, organization=sme,
                                now=booking.start - timedelta(hours=1))
    elif op[0] == "operator_cancel":
        bookings.cancel_booking(booking_id=booking.pk, organization=operator,
                                now=booking.start - timedelta(hours=1))
    else:
        bookings.mark_no_show(booking_id=booking.pk, reason="nobody",
                              now=booking.start + timedelta(hours=1))


def check_invariants(world) -> None:
    programme = world["programme"]
    for quote in Quote.objects.prefetch_related("lines"):
        lines = list(quote.lines.all())
        assert quote.total == sum((li.amount for li in lines), D(0))
        assert quote.voucher_total == sum((li.voucher_share for li in lines), D(0))
        assert quote.sme_total == sum((li.sme_share for li in lines), D(0))
        for li in lines:
            assert li.voucher_share + li.sme_share == li.amount
            assert li.voucher_share >= 0 and li.sme_share >= 0
            if li.kind not in QuoteLine.VOUCHER_ELIGIBLE:
                assert li.voucher_share == 0
        assert quote.voucher_total <= programme.cap_per_use
    booked = Quote.objects.filter(status=Quote.Status.BOOKED, kind=Quote.Kind.BOOKING)
    assert (booked.aggregate(s=Sum("voucher_total"))["s"] or 0) <= programme.cap_per_sme_year
    for grant in VoucherGrant.objects.all():
        lines = QuoteLine.objects.filter(quote__grant=grant, quote__status=Quote.Status.BOOKED)
        assert grant.used == (lines.aggregate(s=Sum("voucher_share"))["s"] or 0)
        assert 0 <= grant.used <= grant.amount
    for booking in Booking.objects.select_related("quote"):
        # The price is what the booking was priced at: its quote's lines but a late
        # cancellation's fee (added to the released quote).
        priced = booking.quote.lines.exclude(kind=QuoteLine.Kind.LATE_CANCELLATION)
        assert booking.price == priced.aggregate(s=Sum("amount"))["s"]
        released = booking.status in (Booking.Status.CANCELLED, Booking.Status.REJECTED,
                                      Booking.Status.NO_SHOW)
        assert (booking.quote.status == Quote.Status.RELEASED) == released


@pytest.mark.django_db
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=ops)
def test_any_sequence_keeps_the_money_rules(world, sequence):
    with transaction.atomic():
        made: list[Booking] = []
        for op in sequence:
            try:
                with transaction.atomic():
                    run(op, world, made)
            except DomainError:
                continue  # a refusal (slot taken, voucher short, illegal move) changes nothing
            check_invariants(world)
        check_invariants(world)
        transaction.set_rollback(True)
