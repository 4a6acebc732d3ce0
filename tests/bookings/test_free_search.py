"""The search across every hub (``bookings.search.free_search``) answers what
``free_intervals`` answers for each equipment — on PostgreSQL (one set-based query) and on
SQLite (the fallback) — on a varied world: hubs in several zones (one with DST changes
inside the window, one with a half-hour offset), overnight and "24:00" hours, buffers,
maintenance, lead times, horizons, minimum durations, 30/60/120-minute grids, equipment
that is down, an SME at its open-bookings limit. Pages give every equipment once; the API
and the portal use it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import translation

from bookings.models import Booking
from bookings.search import decode_cursor, encode_cursor, free_search
from bookings.selectors import MAX_AVAILABILITY_RANGE, free_intervals
from core.errors import RANGE_TOO_LONG
from equipment.hours import ALWAYS_OPEN, OFFICE_HOURS
from equipment.models import Equipment
from tests.factories import (
    BookingFactory,
    CapabilityFactory,
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MaintenanceWindowFactory,
    OrganizationFactory,
)
from tests.fixtures.world import key_client, local

pytestmark = pytest.mark.django_db

# Just before Europe/Berlin springs forward (2026-03-29) and Australia/Sydney falls back
# (2026-04-05): both changes lie inside the window.
NOW = datetime(2026, 3, 25, 9, 7, tzinfo=UTC)
WINDOW = (NOW - timedelta(hours=5), NOW + timedelta(days=12))

NIGHTS = {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"], ["22:00", "06:00"]],
          "wed": [["00:00", "24:00"]], "thu": [["06:30", "23:30"]],
          "fri": [["20:00", "04:00"]], "sat": [["01:00", "03:30"], ["10:00", "24:00"]],
          "sun": [["00:00", "02:30"], ["12:00", "13:00"]]}
ZONES = [("Asia/Shanghai", OFFICE_HOURS), ("Europe/Berlin", NIGHTS),
         ("Australia/Sydney", NIGHTS), ("Asia/Kolkata", ALWAYS_OPEN)]
POLICIES = [
    dict(slot_granularity=30, min_duration=60, lead_time=0, booking_horizon=30,
         changeover_buffer=0, max_duration=480),
    dict(slot_granularity=60, min_duration=120, lead_time=90, booking_horizon=5,
         changeover_buffer=15, max_duration=240),
    dict(slot_granularity=120, min_duration=120, lead_time=2 * 1440, booking_horizon=30,
         changeover_buffer=45, max_duration=480),
    dict(slot_granularity=30, min_duration=30, lead_time=0, booking_horizon=9,
         changeover_buffer=30, max_duration=120, max_open_bookings_per_sme=1),
    dict(slot_granularity=60, min_duration=60, lead_time=0, booking_horizon=30,
         changeover_buffer=0, max_duration=480, status=Equipment.Status.DOWN),
]
STATUSES = [Booking.Status.CONFIRMED, Booking.Status.REQUESTED, Booking.Status.CHECKED_IN,
            Booking.Status.CANCELLED, Booking.Status.COMPLETED, Booking.Status.REJECTED]


@pytest.fixture
def world(db):
    """Four hubs × five policies, bookings of two SMEs back to back with random gaps
    (never overlapping: the exclusion constraint holds on PostgreSQL), maintenance."""
    rng = random.Random(17)  # noqa: S311 - test data, not secrets
    operator = OrganizationFactory(flagship=True)
    smes = [OrganizationFactory(sme=True), OrganizationFactory(sme=True)]
    category = CategoryFactory()
    for zone, hours in ZONES:
        hub = HubFactory(operator=operator, timezone=zone, opening_hours=hours)
        for policy in POLICIES:
            eq = EquipmentFactory(hub=hub, category=category, **policy)
            moment = WINDOW[0] - timedelta(days=1)
            while moment < WINDOW[1] + timedelta(days=1):
                moment += timedelta(minutes=15 * rng.randint(2, 80))
                end = moment + timedelta(minutes=15 * rng.randint(2, 24))
                BookingFactory(equipment=eq, organization=rng.choice(smes), start=moment,
                               end=end, status=rng.choice(STATUSES), price=Decimal("0"))
                moment = end + timedelta(minutes=eq.changeover_buffer)
            for _ in range(2):
                start = WINDOW[0] + timedelta(minutes=15 * rng.randint(0, 1000))
                MaintenanceWindowFactory(equipment=eq, start=start,
                                         end=start + timedelta(minutes=15 * rng.randint(1, 30)))
    # The first SME holds one open booking of each limited equipment: its limit (1).
    for eq in Equipment.objects.filter(max_open_bookings_per_sme=1):
        if not Booking.objects.filter(equipment=eq, organization=smes[0],
                                      status__in=Booking.ACTIVE).exists():
            last = Booking.objects.filter(equipment=eq).order_by("-blocked_until").first()
            start = last.blocked_until + timedelta(days=30)
            BookingFactory(equipment=eq, organization=smes[0], start=start,
                           end=start + timedelta(hours=1), price=Decimal("0"))
    return {"operator": operator, "smes": smes}


def expected(organization, min_minutes=None) -> dict[int, list]:
    """Every equipment's answer from ``free_intervals``, those with any."""
    out = {}
    for eq in Equipment.objects.select_related("hub").order_by("pk"):
        periods = [(s, e) for s, e in free_intervals(equipment=eq, start=WINDOW[0],
                                                      end=WINDOW[1], organization=organization,
                                                      now=NOW)
                   if e - s >= timedelta(minutes=min_minutes or 0)]
        if periods:
            out[eq.pk] = periods
    return out


def searched(organization, min_minutes=None, limit=3) -> dict[int, list]:
    """Every page of the search, every period of each match."""
    out, after = {}, None
    while True:
        page = free_search(start=WINDOW[0], end=WINDOW[1], min_minutes=min_minutes,
                           equipment=Equipment.objects.select_related("hub"),
                           organization=organization, now=NOW, after=after, limit=limit,
                           periods_per_equipment=10_000)
        assert len(page.matches) <= limit
        for match in page.matches:
            assert match.equipment.pk not in out  # once
            assert match.more == 0
            out[match.equipment.pk] = match.periods
        if page.next_after is None:
            return out
        assert len(page.matches) == limit  # only the last page is short
        after = page.next_after


def assert_same_as_free_intervals(world):
    sme, other = world["smes"]
    assert Equipment.objects.count() == len(ZONES) * len(POLICIES)
    for organization in (None, sme, other, world["operator"]):
        for min_minutes in (None, 150):
            want = expected(organization, min_minutes)
            assert searched(organization, min_minutes) == want
    # The world is varied enough to mean something: some have time, some have none.
    with_time, for_sme = expected(None), expected(sme)
    assert 8 <= len(with_time) < Equipment.objects.count()
    assert len(for_sme) < len(with_time)  # the SME's limit takes some away


def test_search_equals_free_intervals_for_every_equipment(world):
    assert_same_as_free_intervals(world)


@pytest.mark.postgres
def test_search_equals_free_intervals_on_postgresql(world):
    """One set-based query (opening multiranges minus range_agg of what blocks) gives
    each equipment's periods exactly as free_intervals does."""
    assert_same_as_free_intervals(world)


@pytest.mark.postgres
def test_the_search_is_one_query_per_page_on_postgresql(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the set query, then the page's equipment
        page = free_search(start=WINDOW[0], end=WINDOW[1], now=NOW, limit=5,
                           equipment=Equipment.objects.select_related("hub"))
    assert len(page.matches) == 5 and page.next_after is not None


def test_first_periods_and_how_many_more(world):
    want = expected(None)
    page = free_search(start=WINDOW[0], end=WINDOW[1], now=NOW, limit=100,
                       equipment=Equipment.objects.select_related("hub"),
                       periods_per_equipment=2)
    assert page.next_after is None
    for match in page.matches:
        periods = want[match.equipment.pk]
        assert match.periods == periods[:2]
        assert match.more == max(0, len(periods) - 2)


def test_pages_give_every_equipment_once_even_with_an_insert_between(hub, category):
    for n in range(7):
        EquipmentFactory(hub=hub, category=category, name=f"Mill {n}")
    start, end = local(2, 9), local(2, 17)
    seen, after = [], None
    while True:
        page = free_search(start=start, end=end, equipment=Equipment.objects.all(), limit=3,
                           after=after)
        seen += [m.equipment.pk for m in page.matches]
        if page.next_after is None:
            break
        after = page.next_after
        if len(seen) == 3:  # a new machine appears between two pages
            EquipmentFactory(hub=hub, category=category, name="Late mill")
    assert sorted(seen) == sorted(Equipment.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 8


def test_a_filled_page_skips_equipment_whose_periods_fall_off_the_grid(hub, category):
    """Raw free time long enough, but not once cut to a 120-minute grid: the page is
    filled from the next candidates."""
    start = local(3, 9)
    for n in range(4):
        eq = EquipmentFactory(hub=hub, category=category, slot_granularity=120,
                              min_duration=120, lead_time=0, booking_horizon=30)
        if n < 3:  # free 09:30–11:45 only: 135 minutes, but no 120-minute grid slot
            BookingFactory(equipment=eq, start=start - timedelta(hours=1),
                           end=start + timedelta(minutes=30), price=Decimal("0"))
            BookingFactory(equipment=eq, start=start + timedelta(minutes=165),
                           end=start + timedelta(hours=8), price=Decimal("0"))
    page = free_search(start=start, end=start + timedelta(hours=8),
                       equipment=Equipment.objects.all(), limit=1)
    assert [m.equipment.pk for m in page.matches] == [eq.pk]
    assert page.matches[0].periods == [(start + timedelta(hours=1),
                                        start + timedelta(hours=7))]
    assert page.next_after is None


def test_nothing_to_search(hub, category):
    EquipmentFactory(hub=hub, category=category)
    page = free_search(start=local(2, 9), end=local(2, 17), equipment=Equipment.objects.none())
    assert page.matches == [] and page.next_after is None


def test_cursor_round_trip_and_junk():
    assert decode_cursor(encode_cursor(123)) == 123
    too_big = encode_cursor(2**63)
    for junk in ("", "abc", "YT0tMQ", encode_cursor(1) + "x", "a=1", "!!", too_big):
        assert decode_cursor(junk) is None


# --- The API -----------------------------------------------------------------------------

URL = "/api/v1/equipment/free/"


def q(moment) -> str:
    return moment.isoformat()


def test_api_pages_through_free_equipment_in_hub_offsets(hub, category, sme):
    berlin = HubFactory(timezone="Europe/Berlin", opening_hours=ALWAYS_OPEN)
    machines = [EquipmentFactory(hub=h, category=category) for h in (hub, berlin) * 13]
    client = key_client(sme)
    start, end = local(2, 9), local(2, 13)
    response = client.get(URL, {"start": q(start), "end": q(end)})
    assert response.status_code == 200
    body = response.json()
    assert body["previous"] is None and body["next"]
    assert len(body["results"]) == 20
    first = body["results"][0]
    assert first["equipment"]["id"] == machines[0].pk
    assert first["free"] == [{"start": start.isoformat(), "end": end.isoformat()}]
    assert first["more"] == 0
    second = body["results"][1]["free"][0]
    assert second["start"].endswith("+01:00") or second["start"].endswith("+02:00")
    rest = client.get(body["next"]).json()
    assert rest["next"] is None
    ids = [r["equipment"]["id"] for r in body["results"] + rest["results"]]
    assert ids == [m.pk for m in machines]


def test_api_filters_reuse_the_catalogue_filters(hub, category, sme):
    robots = CategoryFactory(slug="robots")
    vision = CapabilityFactory(slug="vision")
    mill = EquipmentFactory(hub=hub, category=category, name="Five-axis mill")
    arm = EquipmentFactory(hub=hub, category=robots, name="Arm")
    arm.capabilities.set([vision])
    client = key_client(sme)
    period = {"start": q(local(2, 9)), "end": q(local(2, 13))}

    def ids(**params):
        response = client.get(URL, {**period, **params})
        assert response.status_code == 200, response.json()
        return [r["equipment"]["id"] for r in response.json()["results"]]

    assert ids() == [mill.pk, arm.pk]
    assert ids(category="robots") == [arm.pk]
    assert ids(capability="vision") == [arm.pk]
    assert ids(q="five-axis") == [mill.pk]
    assert ids(min_minutes=300) == []  # only four hours are asked about


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "tomorrow", "end": "2026-12-02T10:00:00+08:00"}, "start"),
    ({"start": "2026-12-02T10:00:00", "end": "2026-12-02T12:00:00+08:00"}, "start"),
    ({"start": "2026-12-02T10:00:00+08:00", "end": "2026-12-02T09:00:00+08:00"}, "end"),
    ({"start": "2026-12-02T10:00:00+08:00", "min_minutes": "0"}, "min_minutes"),
    ({"start": "2026-12-02T10:00:00+08:00", "min_minutes": "ten"}, "min_minutes"),
    ({"start": "2026-12-02T10:00:00+08:00", "category": "no-such-category"}, "category"),
    ({"start": "2026-12-02T10:00:00+08:00", "capability": "no-such"}, "capability"),
    ({"start": "2026-12-02T10:00:00+08:00", "cursor": "not-a-cursor"}, "cursor"),
])
def test_api_bad_input_is_a_field_error(sme, params, field):
    params = {"end": "2026-12-02T12:00:00+08:00", **params}
    response = key_client(sme).get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert list(response.json()["errors"]) == [field]


def test_api_range_is_capped_in_both_languages(sme):
    start = datetime(2026, 12, 2, 9, tzinfo=UTC)
    params = {"start": q(start), "end": q(start + MAX_AVAILABILITY_RANGE + timedelta(days=1))}
    client = key_client(sme)
    english = client.get(URL, params, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.get(URL, params, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert english.status_code == chinese.status_code == 400
    with translation.override("en"):
        assert english.json()["errors"]["end"] == [RANGE_TOO_LONG.text(
            days=MAX_AVAILABILITY_RANGE.days)]
    with translation.override("zh-hans"):
        assert chinese.json()["errors"]["end"] == [RANGE_TOO_LONG.text(
            days=MAX_AVAILABILITY_RANGE.days)]
    assert english.json()["errors"] != chinese.json()["errors"]


def test_api_field_errors_speak_chinese_too(sme):
    params = {"start": "2026-12-02T10:00:00+08:00", "end": "2026-12-02T12:00:00+08:00",
              "category": "no-such-category", "min_minutes": "0"}
    client = key_client(sme)
    english = client.get(URL, params, HTTP_ACCEPT_LANGUAGE="en").json()["errors"]
    chinese = client.get(URL, params, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["errors"]
    assert set(english) == set(chinese) == {"category", "min_minutes"}
    for field in english:
        assert english[field] != chinese[field]
        assert all(ord(ch) < 128 for ch in english[field][0])
        assert any(ord(ch) > 0x3000 for ch in chinese[field][0])


def test_api_needs_a_key(api_client):
    assert api_client.get(URL, {"start": q(local(2, 9)), "end": q(local(2, 13))}
                          ).status_code == 401


def test_api_path_is_not_taken_for_an_equipment_id():
    assert reverse("equipment-free") == URL


# --- The portal --------------------------------------------------------------------------


def test_portal_search_reaches_every_match_past_forty(client, hub, category):
    machines = {EquipmentFactory(hub=hub, category=category).pk for _ in range(45)}
    start = local(2, 9)
    params = {"free_from": start.strftime("%Y-%m-%dT%H:%M"),
              "free_until": (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
              "min_minutes": "120"}
    url, seen, pages = reverse("bookings:catalog"), [], 0
    while True:
        response = client.get(url, params)
        assert response.status_code == 200
        assert b"were checked for free time" not in response.content
        assert (b'rel="first"' in response.content) == (pages > 0)  # back from page 2
        seen += [m.equipment.pk for m in response.context["free"].matches]
        pages += 1
        next_page = response.context["next_page"]
        if not next_page:
            break
        assert f'href="?{next_page.replace("&", "&amp;")}"'.encode() in response.content
        params = {k: v[0] for k, v in parse_qs(urlparse("?" + next_page).query).items()}
    assert pages == 2 and len(seen) == 45 and set(seen) == machines


def test_portal_search_honours_the_minimum_minutes(client, hub, category):
    EquipmentFactory(hub=hub, category=category)
    start = local(2, 9)
    params = {"free_from": start.strftime("%Y-%m-%dT%H:%M"),
              "free_until": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}
    url = reverse("bookings:catalog")
    assert len(client.get(url, params).context["free"].matches) == 1
    assert client.get(url, {**params, "min_minutes": "180"}).context["free"].matches == []
    bad = client.get(url, {**params, "min_minutes": "0"})
    assert "min_minutes" in bad.context["form"].errors
