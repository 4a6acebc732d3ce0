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


@pytest.mark.postgres
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


@pytest.mark.postgres
def test_32_threads_distinct_slots_all_win(hub, category, smes):
    eq = make_equipment(hub, category, "busy", changeover_buffer=30)
    base = local(3, 0)
    results = race(32, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=base + timedelta(hours=2 * i),
        end=base + timedelta(hours=2 * i + 1), purpose="parallel"))
    assert all(isinstance(r, Booking) for r in results), results
    assert Booking.objects.filter(equipment=eq).count() == 32
    assert_no_overlap(eq)


@pytest.mark.postgres
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


@pytest.mark.postgres
def test_exclusion_constraint_backs_the_service(hub, category, smes):
    """Even a write that skips the service cannot overlap: the database refuses it."""
    eq = make_equipment(hub, category, "raw")
    services.create_booking(equipment_id=eq.pk, organization=smes[0], start=local(3, 9),
                            end=local(3, 11), purpose="first")
    with pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic():
        Booking.objects.create(equipment=eq, organization=smes[1], operator=hub.operator,
                               start=local(3, 10), end=local(3, 12), blocked_until=local(3, 12),
                               status="confirmed", purpose="sneaky", price=0)
    # Inactive rows may overlap freely (a cancelled booking frees its slot).
    Booking.objects.create(equipment=eq, organization=smes[1], operator=hub.operator,
                           start=local(3, 10), end=local(3, 12), blocked_until=local(3, 12),
                           status="cancelled", purpose="old", price=0)


def test_sqlite_or_postgres_same_slot_race_never_double_books(hub, category, smes):
    """The same service path on whichever database the suite runs on (8 threads)."""
    eq = make_equipment(hub, category, "anydb")
    start, end = local(4, 9), local(4, 10)
    results = race(8, lambda i: services.create_booking(
        equipment_id=eq.pk, organization=smes[i], start=start, end=end, purpose="race"))
    assert sum(isinstance(r, Booking) for r in results) == 1, results
    assert Booking.objects.filter(equipment=eq, status__in=Booking.ACTIVE).count() == 1


@pytest.mark.postgres
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


# --- one equipment lock for bookings, maintenance and status changes ----------------------

@pytest.mark.postgres
def test_bookings_and_maintenance_racing_never_overlap(hub, category, smes, operator):
    """16 threads book while 16 plan maintenance on the same equipment: whatever order the
    lock gives them, no active booking overlaps a maintenance window afterwards."""
    from core.errors import Busy, ValidationFailed
    from equipment import services as equipment_services
    from equipment.models import MaintenanceWindow

    eq = make_equipment(hub, category, "contended", changeover_buffer=0)
    base = local(3, 0)

    def attempt(i: int):
        if i % 2 == 0:  # bookings: 16 two-hour slots back to back
            k = i // 2
            return services.create_booking(
                equipment_id=eq.pk, organization=smes[k], start=base + timedelta(hours=2 * k),
                end=base + timedelta(hours=2 * k + 2), purpose="race")
        k = i // 2  # maintenance: one hour straddling each slot boundary
        return equipment_services.create_maintenance_window(
            equipment=eq, by=operator, start=base + timedelta(hours=2 * k + 1, minutes=30),
            end=base + timedelta(hours=2 * k + 2, minutes=30), reason=f"race {k}")

    results = race(32, attempt)
    unexpected = [r for r in results if isinstance(r, Exception)
                  and not isinstance(r, Busy | Conflict | ValidationFailed)]
    assert unexpected == []
    windows = list(MaintenanceWindow.objects.filter(equipment=eq).values_list("start", "end"))
    assert len(windows) == sum(isinstance(r, MaintenanceWindow) for r in results) > 0
    active = list(Booking.objects.filter(equipment=eq, status__in=Booking.ACTIVE)
                  .values_list("pk", "start", "end"))
    overlaps = [(pk, ws) for pk, bs, be in active for ws, we in windows if bs < we and be > ws]
    assert overlaps == []
    assert_no_overlap(eq)


@pytest.fixture
def hold_lock():
    """``hold_lock(fn)``: run ``fn`` in a transaction of another connection and keep that
    transaction (and the locks ``fn`` took) open until the test ends."""
    release, threads = threading.Event(), []

    def hold(fn) -> None:
        held = threading.Event()

        def run():
            try:
                with transaction.atomic():
                    fn()
                    held.set()
                    release.wait(30)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        assert held.wait(10), "the lock holder did not get its lock"

    yield hold
    release.set()
    for thread in threads:
        thread.join(timeout=30)


@pytest.mark.postgres
def test_maintenance_waiting_too_long_for_the_equipment_lock_is_503_busy(
        equipment, operator, hold_lock, settings):
    from equipment.models import MaintenanceWindow
    from equipment.services import lock_equipment
    from tests.fixtures.world import key_client

    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: lock_equipment(equipment.pk))
    response = key_client(operator).post("/api/v1/maintenance-windows/", {
        "equipment": equipment.pk, "start": local(3, 9).isoformat(),
        "end": local(3, 11).isoformat(), "reason": "Spindle"}, format="json")
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "busy"
    assert int(response["Retry-After"]) >= 1
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.postgres
def test_status_change_waiting_too_long_for_the_equipment_lock_is_503_busy(
        equipment, operator, hold_lock, settings):
    from equipment.services import lock_equipment
    from tests.fixtures.world import key_client

    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: lock_equipment(equipment.pk))
    response = key_client(operator).patch(f"/api/v1/equipment/{equipment.pk}/",
                                          {"status": "down"}, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "busy" and response["Retry-After"]
    equipment.refresh_from_db()
    assert equipment.status == "available"


@pytest.mark.postgres
def test_a_lock_timeout_outside_the_helper_is_busy_not_unreachable(equipment, sme, hold_lock,
                                                                   settings):
    """The booking row (not the equipment) is held: the ORM's own SELECT … FOR UPDATE
    times out under the transaction's bound, and the API says busy, not 'database
    unreachable'."""
    from tests.fixtures.world import key_client

    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(3, 9), end=local(3, 11), purpose="x")
    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: list(Booking.objects.select_for_update().filter(pk=booking.pk)))
    response = key_client(sme).post(f"/api/v1/bookings/{booking.pk}/cancel/", {},
                                    format="json")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "busy"
    assert response["Retry-After"] == "1"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


@pytest.mark.postgres
def test_the_lock_timeout_is_set_per_transaction_not_per_connection(equipment, sme):
    services.create_booking(equipment_id=equipment.pk, organization=sme, start=local(3, 9),
                            end=local(3, 11), purpose="x")
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.postgres
def test_a_retry_waits_for_the_first_request_at_most_the_lock_timeout(equipment, sme, settings):
    """The Idempotency-Key claim waits for a first request still holding the key, but only
    for the lock timeout: then 503 busy with Retry-After, and nothing is created."""
    from core import idempotency
    from tests.fixtures.world import booking_body, key_client

    settings.DB_LOCK_TIMEOUT_MS = 200
    body = booking_body(equipment, local(3, 9), local(3, 11))
    holding, release = threading.Event(), threading.Event()

    def first_request_still_running() -> None:
        try:
            with transaction.atomic():
                assert idempotency._claim(f"org:{sme.pk}", "retry-held", "first") is not None
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first_request_still_running)
    holder.start()
    try:
        assert holding.wait(10)
        client = key_client(sme)
        retry = client.post("/api/v1/bookings/", body, format="json",
                            HTTP_IDEMPOTENCY_KEY="retry-held")
        assert retry.status_code == 503, retry.content
        assert retry.json()["code"] == "busy"
        assert retry.headers["Retry-After"] == "1"
        assert Booking.objects.filter(equipment=equipment).count() == 0
        other = client.post("/api/v1/bookings/", body, format="json",
                            HTTP_IDEMPOTENCY_KEY="retry-free")
        assert other.status_code == 201  # another key is not held up
    finally:
        release.set()
        holder.join(10)


def wait_until_blocked(timeout: float = 10.0) -> None:
    """Until another connection of this database waits for a lock."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("nobody waited for the lock")


@pytest.mark.postgres
def test_a_stale_copy_waiting_for_the_lock_does_not_revert_a_status_change(equipment, operator,
                                                                           sme):
    """A description change from a copy read before the equipment went down waits for the
    status change's lock, then writes only the description: the equipment stays down and
    the cancelled booking stays cancelled."""
    from equipment import services as equipment_services
    from equipment.models import Equipment

    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(3, 9), end=local(3, 11), purpose="x")
    stale = Equipment.objects.select_related("hub").get(pk=equipment.pk)
    locked_down, release = threading.Event(), threading.Event()
    results: dict = {}

    def take_it_down() -> None:
        try:
            with transaction.atomic():
                equipment_services.update_equipment(
                    equipment=Equipment.objects.select_related("hub").get(pk=equipment.pk),
                    by=operator, data={"status": "down"})
                locked_down.set()
                release.wait(10)
        finally:
            connections.close_all()

    def describe() -> None:
        try:
            results["saved"] = equipment_services.update_equipment(
                equipment=stale, by=operator, data={"description": "New manual"})
        except Exception as exc:  # noqa: BLE001 - inspected below
            results["saved"] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=take_it_down)
    first.start()
    assert locked_down.wait(10)
    second = threading.Thread(target=describe)
    second.start()
    try:
        wait_until_blocked()
    finally:
        release.set()
        first.join(10)
        second.join(10)
    assert not isinstance(results["saved"], Exception), results
    equipment.refresh_from_db()
    assert (equipment.status, equipment.description) == ("down", "New manual")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED


@pytest.mark.postgres
@pytest.mark.parametrize("intruder", ["other_sme", "other_operator"])
def test_another_tenants_transition_is_not_found_without_waiting_for_the_lock(
        equipment, sme, hold_lock, settings, request, intruder):
    """Another organisation's cancel is 404 before any lock is waited for: it neither
    locks the equipment nor learns, from a 503 under contention, that the booking exists."""
    from core.errors import NotFound
    from equipment.services import lock_equipment
    from tests.fixtures.world import key_client

    booking = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                      start=local(3, 9), end=local(3, 11), purpose="x")
    org = request.getfixturevalue(intruder)
    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: lock_equipment(equipment.pk))
    with pytest.raises(NotFound) as caught:
        services.cancel_booking(booking_id=booking.pk, organization=org)
    assert caught.value.code == "booking_not_found"
    response = key_client(org).post(f"/api/v1/bookings/{booking.pk}/cancel/", {},
                                    format="json")
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "booking_not_found"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


@pytest.mark.postgres
def test_suspending_an_organisation_whose_row_is_locked_is_503_busy(sme, admin_client,
                                                                    hold_lock, settings):
    """A row lock outside the equipment lock waits at most the lock timeout too: the
    admin's suspend action answers 503 busy, and nothing changes."""
    import time

    from django.urls import reverse

    from organizations.models import Organization

    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: list(Organization.objects.select_for_update().filter(pk=sme.pk)))
    started = time.monotonic()
    response = admin_client.post(reverse("admin:organizations_organization_changelist"), {
        "action": "suspend", "apply": "1", "_selected_action": [sme.pk],
        "reason": "Identity documents withdrawn"})
    assert time.monotonic() - started < 5
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "1"
    assert Organization.objects.get(pk=sme.pk).suspended_at is None


@pytest.mark.postgres
def test_an_outbox_message_being_settled_elsewhere_is_skipped_within_the_lock_timeout(
        hold_lock, settings):
    """The worker's claim waits for a message row at most the lock timeout; whoever holds
    it is sending or settling it, so the attempt is skipped (the sweep comes back)."""
    import time

    from core import outbox
    from core.models import OutboxMessage

    message = OutboxMessage.objects.create(
        channel="email", event_type="booking.confirmed", dedupe_key="held-1",
        recipient="lead@sme.example", message_id="m-held-1",
        payload={"subject": "Confirmed", "body": "x"})
    settings.DB_LOCK_TIMEOUT_MS = 300
    hold_lock(lambda: list(OutboxMessage.objects.select_for_update().filter(pk=message.pk)))
    started = time.monotonic()
    assert outbox.deliver(message_id=message.pk) == "skipped"
    assert time.monotonic() - started < 5
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxMessage.Status.PENDING, 0)
