"""Invariant 1 under real concurrency: threads with their own database connections
book at the same instant (a barrier releases them together)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, connections, transaction

from bookings import services
from bookings.models import Booking
from core.errors import Conflict
from tests.fixtures.world import local, make_equipment, make_org

pytestmark = pytest.mark.django_db(transaction=True)
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="needs PostgreSQL (runs in CI with DATABASE_URL)")


def race(n: int, attempt) -> list:
    """Run ``attempt(i)`` in ``n`` threads released at once; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = attempt(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def assert_no_overlap(equipment) -> None:
    rows = list(Booking.objects.filter(equipment=equipment, status__in=Booking.ACTIVE)
                .order_by("start").values_list("start", "blocked_until"))
    for (_, prev_blocked), (next_start, _) in zip(rows, rows[1:], strict=False):
        assert next_start >= prev_blocked, "two active bookings overlap"


@pytest.fixture
def smes(db):
    return [make_org(f"sme-{i}", "sme") for i in range(32)]


@on_postgres
def test_32_threads_same_slot_exactly_one_wins(hub, category, smes):
    eq = make_equipment(hub, category, "contested", changeover_buffer=30)
    start, end = local(3, 9), local(3, 11)
    results = race(32, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=start, end=end, purpose="race"))
    wins = [r for r in results if isinstance(r, Booking)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1, results
    assert len(losses) == 31, [r for r in results if not isinstance(r, Booking | Conflict)]
    assert all(r.code == "slot_taken" for r in losses)
    assert Booking.objects.filter(equipment=eq).count() == 1
    assert_no_overlap(eq)


@on_postgres
def test_32_threads_distinct_slots_all_win(hub, category, smes):
    eq = make_equipment(hub, category, "busy", changeover_buffer=30)
    base = local(3, 0)
    results = race(32, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=base + timedelta(hours=2 * i),
        end=base + timedelta(hours=2 * i + 1), purpose="parallel"))
    assert all(isinstance(r, Booking) for r in results), results
    assert Booking.objects.filter(equipment=eq).count() == 32
    assert_no_overlap(eq)


@on_postgres
def test_overlapping_near_misses_race(hub, category, smes):
    """Staggered overlapping requests: whatever wins, nothing overlaps."""
    eq = make_equipment(hub, category, "stagger", changeover_buffer=60)
    base = local(3, 8)
    results = race(16, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=base + timedelta(minutes=30 * i),
        end=base + timedelta(minutes=30 * i + 120), purpose="stagger"))
    assert all(isinstance(r, Booking | Conflict) for r in results), results
    assert any(isinstance(r, Booking) for r in results)
    assert_no_overlap(eq)


@on_postgres
def test_exclusion_constraint_backs_the_service(hub, category, smes):
    """Even a write that skips the service cannot overlap: the database refuses it."""
    eq = make_equipment(hub, category, "raw")
    services.create_booking(equipment_id=eq.pk, organization=smes[0], start=local(3, 9),
                            end=local(3, 11), purpose="first")
    with pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic():
        Booking.objects.create(equipment=eq, organization=smes[1], start=local(3, 10),
                               end=local(3, 12), blocked_until=local(3, 12), status="confirmed",
                               purpose="sneaky", price=0)
    # Inactive rows may overlap freely (a cancelled booking frees its slot).
    Booking.objects.create(equipment=eq, organization=smes[1], start=local(3, 10),
                           end=local(3, 12), blocked_until=local(3, 12), status="cancelled",
                           purpose="old", price=0)


def test_sqlite_or_postgres_same_slot_race_never_double_books(hub, category, smes):
    """The same service path on whichever database the suite runs on (8 threads)."""
    eq = make_equipment(hub, category, "anydb")
    start, end = local(4, 9), local(4, 10)
    results = race(8, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=start, end=end, purpose="race"))
    assert sum(isinstance(r, Booking) for r in results) == 1, results
    assert Booking.objects.filter(equipment=eq, status__in=Booking.ACTIVE).count() == 1


@on_postgres
def test_concurrent_retries_with_one_idempotency_key_get_the_first_response(equipment, sme):
    """A client retrying a timed-out request while the first is still running gets the
    first response (201, same booking), not a 409 for its own slot."""
    from tests.fixtures.world import booking_body, key_client

    body = booking_body(equipment, local(3, 9), local(3, 11))
    clients = [key_client(sme) for _ in range(8)]
    results = race(8, lambda i: clients[i].post("/api/v1/bookings/", body, format="json",
                                                HTTP_IDEMPOTENCY_KEY="retry-42"))
    assert [r.status_code for r in results] == [201] * 8, [r.content for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in results) == 7
    assert Booking.objects.filter(equipment=equipment).count() == 1
