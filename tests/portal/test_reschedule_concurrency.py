"""Moving bookings keeps invariant 1 under real concurrency: SMEs moving their bookings
into one slot at the same instant — exactly one wins, the others get a 409 and keep their
own period (PostgreSQL: the equipment lock, backed by the exclusion constraint)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bookings import services
from bookings.models import Booking
from core.errors import Conflict
from tests.bookings.test_concurrency import assert_no_overlap, race
from tests.fixtures.world import local, make_equipment, make_org

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.postgres
def test_moves_into_one_slot_exactly_one_wins(hub, category):
    eq = make_equipment(hub, category, "contested-move", changeover_buffer=30)
    smes = [make_org(f"mover-{i}", "sme") for i in range(12)]
    base = local(3, 0)
    bookings = [
        services.create_booking(
            equipment_id=eq.pk,
            organization=sme,
            start=base + timedelta(hours=2 * i),
            end=base + timedelta(hours=2 * i + 1),
            purpose="before",
        )
        for i, sme in enumerate(smes)
    ]
    target_start, target_end = local(5, 9), local(5, 11)
    results = race(
        len(smes),
        lambda i: services.reschedule_booking(
            booking_id=bookings[i].pk,
            organization=smes[i],
            start=target_start,
            end=target_end,
        ),
    )
    wins = [r for r in results if isinstance(r, Booking)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1, results
    assert len(losses) == len(smes) - 1, results
    assert all(r.code == "slot_taken" for r in losses)
    moved = Booking.objects.filter(equipment=eq, start=target_start)
    assert moved.count() == 1
    for i, booking in enumerate(bookings):
        booking.refresh_from_db()
        if booking.pk != wins[0].pk:
            assert booking.start == base + timedelta(hours=2 * i)
    assert_no_overlap(eq)
