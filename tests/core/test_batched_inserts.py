"""core.db.batched_inserts: the INSERTs of a block go out as one statement at its end
(data-modifying CTEs, PostgreSQL), foreign keys to rows queued in the same block resolve to
those rows, and an error in that statement rolls the whole transaction back. Elsewhere it
is a no-op."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings.models import Booking
from core import db
from pricing.models import Quote, QuoteLine
from tests.bookings.test_concurrency import race
from tests.fixtures.world import local, make_equipment
from trials.models import Trial


def _quote(equipment, organization, start, end) -> Quote:
    return Quote(kind=Quote.Kind.BOOKING, status=Quote.Status.BOOKED, hub=equipment.hub,
                 organization=organization, start=start, end=end, total=Decimal("400.00"),
                 sme_total=Decimal("400.00"))


def _line(quote, position, start, end) -> QuoteLine:
    return QuoteLine(quote=quote, position=position, kind=QuoteLine.Kind.USAGE,
                     equipment=None, start=start, end=end, quantity=Decimal("1.0000"),
                     unit="hour", unit_price=Decimal("200.00"), amount=Decimal("200.00"),
                     voucher_share=Decimal("0"), sme_share=Decimal("200.00"))


def _booking(equipment, organization, start, end, quote) -> Booking:
    return Booking(equipment=equipment, organization=organization,
                   operator_id=equipment.hub.operator_id, start=start, end=end,
                   blocked_until=end, status=Booking.Status.CONFIRMED, purpose="batched",
                   price=quote.total, quote=quote)


def _book(equipment, organization, start) -> tuple[Quote, list[QuoteLine], Booking, Trial]:
    """A quote with two lines, its booking and the booking's trial, written as the create
    path writes them (inside a batched block when the caller opened one)."""
    end = start + timedelta(hours=1)
    quote = db.insert(_quote(equipment, organization, start, end))
    lines = db.insert_all([_line(quote, 1, start, end), _line(quote, 2, start, end)])
    booking = db.insert(_booking(equipment, organization, start, end, quote))
    trial = db.insert(Trial(booking=booking))
    return quote, lines, booking, trial


def _assert_stored(quote, lines, booking, trial) -> None:
    assert quote.pk and booking.pk and all(line.pk for line in lines)
    assert not booking._state.adding
    assert booking.quote_id == quote.pk and booking.quote is quote  # still cached
    assert trial.pk == booking.pk
    stored = Booking.objects.get(pk=booking.pk)
    assert stored.quote_id == quote.pk and stored.start == booking.start
    assert Quote.objects.get(pk=quote.pk).start == booking.start
    assert sorted(QuoteLine.objects.filter(quote_id=quote.pk).values_list("pk", flat=True)) \
        == sorted(line.pk for line in lines)
    assert Trial.objects.filter(pk=booking.pk).exists()


@pytest.mark.django_db
@pytest.mark.postgres
def test_one_statement_at_the_end_and_ids_set_after(equipment, sme):
    start = local(3, 9)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with db.batched_inserts():
            quote, lines, booking, trial = _book(equipment, sme, start)
            assert quote.pk is None and booking.pk is None  # queued, not sent
            assert len(queries) == 0
            seen = []
            db.when_stored(quote, lambda: seen.append(quote.pk))
            assert seen == []
        assert seen == [quote.pk]
    sent = [q["sql"] for q in queries.captured_queries]
    assert len(sent) == 1 and sent[0].startswith("WITH t0 AS (INSERT INTO")
    assert sent[0].count("INSERT INTO") == 5
    assert '(SELECT "id" FROM t0)' in sent[0]  # the lines and the booking -> their quote
    _assert_stored(quote, lines, booking, trial)


@pytest.mark.django_db
@pytest.mark.postgres
def test_two_blocks_in_a_row_each_refer_to_their_own_rows(equipment, sme):
    with transaction.atomic():
        with db.batched_inserts():
            first = _book(equipment, sme, local(3, 9))
        with db.batched_inserts():
            second = _book(equipment, sme, local(3, 11))
    _assert_stored(*first)
    _assert_stored(*second)
    assert first[0].pk != second[0].pk


@pytest.mark.django_db
@pytest.mark.postgres
def test_reference_to_an_earlier_queued_row_of_a_table(equipment, sme):
    """A row may refer to any row queued before it, not only the latest of its table."""
    start, end = local(3, 9), local(3, 10)
    with transaction.atomic(), db.batched_inserts():
        older = db.insert(_quote(equipment, sme, start, end))
        newer = db.insert(_quote(equipment, sme, local(4, 9), local(4, 10)))
        booking = db.insert(_booking(equipment, sme, start, end, older))  # not the latest
        later = db.insert(_booking(equipment, sme, local(4, 9), local(4, 10), newer))
        assert older.pk is None  # still queued
    assert Booking.objects.get(pk=booking.pk).quote_id == older.pk
    assert Booking.objects.get(pk=later.pk).quote_id == newer.pk != older.pk


@pytest.mark.django_db
@pytest.mark.postgres
def test_an_error_in_the_statement_rolls_everything_back(equipment, sme):
    start = local(3, 9)
    before = (Quote.objects.count(), Booking.objects.count(), Trial.objects.count())
    with (pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic(),
          db.batched_inserts()):
        _book(equipment, sme, start)
        _book(equipment, sme, start)  # the same slot: refused by the constraint
        # nothing was sent yet: the refusal comes with the block's one statement
    assert (Quote.objects.count(), Booking.objects.count(), Trial.objects.count()) == before


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_raising_block_sends_nothing(equipment, sme):
    with (CaptureQueriesContext(connection) as queries, pytest.raises(RuntimeError),
          transaction.atomic(), db.batched_inserts()):
        _book(equipment, sme, local(3, 9))
        raise RuntimeError("abandon")
    assert not [q for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    assert not Booking.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_concurrent_sessions_do_not_cross(hub, category, sme):
    """Threads (each its own connection) writing at once link each booking to its own
    quote and trial."""
    threads_n, rounds = 6, 15
    equipment = [make_equipment(hub, category, f"cc-{i}") for i in range(threads_n)]

    def attempt(i: int) -> list:
        out = []
        for r in range(rounds):
            with transaction.atomic(), db.batched_inserts():
                out.append(_book(equipment[i], sme, local(3, 0) + timedelta(hours=r)))
        return out

    written = race(threads_n, attempt)
    for i, out in enumerate(written):
        assert isinstance(out, list), out
        for quote, lines, booking, trial in out:
            _assert_stored(quote, lines, booking, trial)
            assert Booking.objects.get(pk=booking.pk).equipment_id == equipment[i].pk
    assert Booking.objects.count() == threads_n * rounds


@pytest.mark.django_db
def test_written_at_once_off_postgresql(equipment, sme):
    """Whatever the database: the same rows; only PostgreSQL defers them to the block's end."""
    with transaction.atomic(), db.batched_inserts():
        quote, lines, booking, trial = _book(equipment, sme, local(3, 9))
        assert (booking.pk is None) == (connection.vendor == "postgresql")
    _assert_stored(quote, lines, booking, trial)
