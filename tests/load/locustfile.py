"""Locust users for ``make loadtest`` (run by ``tests/load/run.py``; loopback only).

SMEs browse equipment and its availability, book slots starting in the next minutes
(deliberately overlapping now and then), retry a creation with its Idempotency-Key,
cancel some of their bookings and list theirs. Hub operators approve requests, check in
and complete the bookings whose start has passed (each completion has the Celery worker
collect the trial's results) and read trials.

The world (API keys, equipment ids) comes from the JSON file named by
``TESTBED_LOAD_WORLD``, written by the runner. Once every user has stopped, the final
statistics are written as ``<TESTBED_LOAD_RESULTS>_stats.csv``, ``_failures.csv`` and
``_exceptions.csv`` (Locust's own CSV format; its periodic ``--csv`` files lag by up to
a second and miss the requests finishing during the stop) and ``_outcomes.json``
(responses per endpoint and status).

Every request decides its own outcome: the statuses a correct service may give under
contention (a 409 for a taken slot, a 400 for a slot that became past) are successes; a
5xx is always a failure, recorded as ``HTTP 5xx …`` with the request id so it can be
found in the gunicorn log.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import uuid
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from pathlib import Path

from locust import HttpUser, between, events, task
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

WORLD = json.loads(Path(os.environ["TESTBED_LOAD_WORLD"]).read_text())
HUB_TZ = timezone(timedelta(hours=8))  # the hub's zone (Asia/Shanghai, no DST)
PURPOSE = "Load test trial: aluminium housing finishing pass"

# Bookings recently created by any SME user of this process: targets for deliberate
# overlaps (greenlets share the module).
RECENT: deque[tuple[int, datetime, datetime]] = deque(maxlen=50)
# (method, name, outcome) → responses.
OUTCOMES: Counter[tuple[str, str, str]] = Counter()


@events.quitting.add_listener
def _write_results(environment, **_kwargs) -> None:
    """Fired after the runner stopped every user: the statistics are final."""
    base = os.environ.get("TESTBED_LOAD_RESULTS")
    if not base:
        return
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    with open(f"{base}_stats.csv", "w", newline="") as f:
        writer.requests_csv(csv.writer(f))
    with open(f"{base}_failures.csv", "w", newline="") as f:
        writer.failures_csv(csv.writer(f))
    with open(f"{base}_exceptions.csv", "w", newline="") as f:
        writer.exceptions_csv(csv.writer(f))
    Path(f"{base}_outcomes.json").write_text(json.dumps(
        [{"method": m, "name": n, "status": s, "count": c}
         for (m, n, s), c in sorted(OUTCOMES.items())]))


def now_local() -> datetime:
    return datetime.now(HUB_TZ)


def outcome(response) -> str:
    """The status, with the problem's code for a 409 ("409 changeover_buffer") and the
    fields at fault for a 400 ("400 start")."""
    code = response.status_code
    if code not in (400, 409):
        return str(code)
    try:
        problem = response.json()
    except ValueError:
        return str(code)
    if code == 409:
        return f"409 {problem.get('code', '?')}"
    return "400 " + ",".join(sorted(problem.get("errors") or {}) or ["?"])


def judge(response, ok: tuple[int, ...], what: str = "") -> bool:
    """Mark the response (opened with ``catch_response=True``) and say whether it is a
    success. Fails on a 5xx, a transport error and any status not in ``ok``."""
    code = response.status_code
    meta = response.request_meta
    OUTCOMES[(meta["request_type"], meta["name"], outcome(response))] += 1
    if code in ok:
        response.success()
        return True
    rid = response.headers.get("X-Request-ID", "") if response.headers is not None else ""
    body = (response.text or "")[:300].replace("\n", " ")
    if code == 0:
        response.failure(f"transport error: {response.error!r}")
    elif code >= 500:
        response.failure(f"HTTP {code} request_id={rid} {what} {body}")
    else:
        response.failure(f"unexpected HTTP {code} {what} {body}")
    return False


class ApiUser(HttpUser):
    abstract = True
    key = ""

    def on_start(self) -> None:
        self.client.headers.update({"Authorization": f"Bearer {self.key}",
                                    "Accept": "application/json"})

    def get(self, path: str, name: str, params: dict | None = None,
            ok: tuple[int, ...] = (200,)):
        with self.client.get(path, params=params, name=name, catch_response=True) as r:
            judge(r, ok)
            return r

    def post(self, path: str, name: str, body: dict | None = None, ok: tuple[int, ...] = (200,),
             headers: dict | None = None):
        with self.client.post(path, json=body or {}, name=name, headers=headers,
                              catch_response=True) as r:
            judge(r, ok, what=json.dumps(body or {})[:200])
            return r


_sme_numbers = itertools.count()


class Sme(ApiUser):
    """An SME's system: browse, book, sometimes cancel, list."""

    weight = 5
    wait_time = between(0.1, 0.6)

    def on_start(self) -> None:
        smes = WORLD["smes"]
        self.key = smes[next(_sme_numbers) % len(smes)]["api_key"]
        self.mine: deque[tuple[int, datetime]] = deque(maxlen=20)  # (id, start)
        super().on_start()

    @task(2)
    def browse_equipment(self) -> None:
        params = {"hub": WORLD["hub_slug"]} if random.random() < 0.5 else None
        self.get("/api/v1/equipment/", "/api/v1/equipment/", params=params)

    @task(3)
    def availability(self) -> None:
        equipment = random.choice(WORLD["equipment_ids"])
        start = now_local().replace(second=0, microsecond=0)
        r = self.get(f"/api/v1/equipment/{equipment}/availability/",
                     "/api/v1/equipment/[id]/availability/",
                     params={"start": start.isoformat(),
                             "end": (start + timedelta(days=1)).isoformat()})
        if r.status_code == 200 and random.random() < 0.5:
            self.book_offered(equipment, r.json()["free"])

    def book_offered(self, equipment: int, free: list[dict]) -> None:
        """Book what availability just offered: the first free minute at least 10 s
        ahead, 1–3 minutes long. Someone else may have taken it meanwhile (409), but a
        400 would mean availability offers slots the booking rules refuse."""
        earliest = (now_local() + timedelta(seconds=70)).replace(second=0, microsecond=0)
        for period in free:
            start = max(datetime.fromisoformat(period["start"]), earliest)
            end = min(start + timedelta(minutes=random.randint(1, 3)),
                      datetime.fromisoformat(period["end"]))
            if end > start:
                break
        else:
            return
        body = {"equipment": equipment, "start": start.isoformat(), "end": end.isoformat(),
                "purpose": PURPOSE}
        r = self.post("/api/v1/bookings/", "/api/v1/bookings/ (slot from availability)", body,
                      ok=(201, 409))
        if r.status_code == 201:
            RECENT.append((equipment, start, end))
            self.mine.append((r.json()["id"], start))

    @task(6)
    def book(self) -> None:
        if RECENT and random.random() < 0.3:
            # Deliberately on top of (or right after, inside the changeover buffer of)
            # a booking just made: a 409, unless that one was cancelled meanwhile.
            equipment, taken_start, taken_end = random.choice(list(RECENT))
            start = random.choice([taken_start, taken_end])
            end = start + timedelta(minutes=random.randint(1, 2))
        else:
            equipment = random.choice(WORLD["equipment_ids"])
            # The next minute boundaries (0–60 s away) up to five minutes ahead, so some
            # start during the run and are completed by the operators.
            start = (now_local().replace(second=0, microsecond=0)
                     + timedelta(minutes=random.randint(1, 5)))
            end = start + timedelta(minutes=random.randint(1, 3))
        body = {"equipment": equipment, "start": start.isoformat(), "end": end.isoformat(),
                "purpose": PURPOSE}
        key = str(uuid.uuid4()) if random.random() < 0.2 else None
        headers = {"Idempotency-Key": key} if key else None
        r = self.post("/api/v1/bookings/", "/api/v1/bookings/", body, ok=(201, 400, 409),
                      headers=headers)
        if r.status_code != 201:
            return
        created = r.json()
        RECENT.append((equipment, start, end))
        self.mine.append((created["id"], start))
        if key:
            self.replay(body, key, created["id"])

    def replay(self, body: dict, key: str, booking_id: int) -> None:
        """The same creation again with its Idempotency-Key: the first response back,
        nothing created."""
        name = "/api/v1/bookings/ (Idempotency-Key replay)"
        with self.client.post("/api/v1/bookings/", json=body, name=name,
                              headers={"Idempotency-Key": key}, catch_response=True) as r:
            if not judge(r, (201,)):
                return
            if r.headers.get("Idempotent-Replayed") != "true" or r.json().get("id") != booking_id:
                r.failure(f"replay did not return booking {booking_id}: {r.text[:200]}")

    @task(1)
    def cancel(self) -> None:
        """Mostly a booking that has not started; now and then any, racing the operators'
        check-in (409 cancel_too_late / illegal_transition then)."""
        soon = now_local() + timedelta(seconds=10)
        late = random.random() < 0.2
        candidates = [(i, s) for i, s in self.mine if late or s > soon]
        if not candidates:
            return
        booking_id, start = random.choice(candidates)
        self.mine.remove((booking_id, start))
        self.post(f"/api/v1/bookings/{booking_id}/cancel/", "/api/v1/bookings/[id]/cancel/",
                  {"reason": "plans changed"}, ok=(200, 409))

    @task(2)
    def my_bookings(self) -> None:
        self.get("/api/v1/bookings/", "/api/v1/bookings/",
                 params={"after": now_local().isoformat()})


class Operator(ApiUser):
    """A hub operator's MES: approve requests, check in and complete started bookings,
    read the trials (collected by the worker)."""

    fixed_count = 2  # two at once, so their transitions race each other
    wait_time = between(0.3, 1.0)
    per_round = 10

    def on_start(self) -> None:
        self.key = WORLD["operator_api_key"]
        self.completed: deque[int] = deque(maxlen=50)
        super().on_start()

    def listing(self, status: str, before: datetime | None = None) -> list[dict]:
        params = {"status": status}
        name = f"/api/v1/bookings/?status={status}"
        if before is not None:
            params["before"] = before.isoformat()
            name += "&before=[now]"
        r = self.get("/api/v1/bookings/", name, params=params)
        if r.status_code != 200:
            return []
        results = r.json()["results"]
        random.shuffle(results)  # the two operators mostly take different ones
        return results[: self.per_round]

    @task(2)
    def approve_requests(self) -> None:
        for booking in self.listing("requested"):
            # 409: the other operator (or the SME's cancellation) got there first.
            self.post(f"/api/v1/bookings/{booking['id']}/approve/",
                      "/api/v1/bookings/[id]/approve/", {"reason": "load test"}, ok=(200, 409))

    @task(3)
    def check_in_and_complete(self) -> None:
        now = now_local()
        for booking in self.listing("confirmed", before=now):
            r = self.post(f"/api/v1/bookings/{booking['id']}/check-in/",
                          "/api/v1/bookings/[id]/check-in/", ok=(200, 409))
            if r.status_code == 200:
                self.complete(booking["id"])
        for booking in self.listing("checked_in", before=now):
            self.complete(booking["id"])

    def complete(self, booking_id: int) -> None:
        r = self.post(f"/api/v1/bookings/{booking_id}/complete/",
                      "/api/v1/bookings/[id]/complete/", ok=(200, 409))
        if r.status_code == 200:
            self.completed.append(booking_id)

    @task(1)
    def read_trial(self) -> None:
        if not self.completed:
            return
        trial_id = random.choice(list(self.completed))
        r = self.get(f"/api/v1/trials/{trial_id}/", "/api/v1/trials/[id]/")
        if r.status_code == 200 and r.json().get("status") == "collected":
            self.get(f"/api/v1/trials/{trial_id}/measurements/",
                     "/api/v1/trials/[id]/measurements/")
