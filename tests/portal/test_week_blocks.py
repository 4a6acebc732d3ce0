"""The week page as merged blocks (issue 17, part 2): a day is a handful of blocks placed
on the grid's rows, not rows × days cells; up to thirteen weeks (92 days of availability)
on one page from one query; DST days; the same queries as before, or fewer."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from bookings.portal.week import CLOSED, FREE, MAX_WEEKS, OWN, PAST, UNAVAILABLE
from tests.factories import HubFactory, MaintenanceWindowFactory, MembershipFactory
from tests.fixtures.world import make_equipment

from .conftest import form_time, local, logged_in, make_booking

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def blocks_of(week, day: date):
    return next(d for days in week.columns for d in days if d.date == day).blocks


def grid_rows(html: str) -> list[tuple[str, int, int]]:
    """(state, first grid line, last grid line) of every block of the page, in order."""
    return [(m[1] or "free", int(m[2]), int(m[3])) for m in re.finditer(
        r'class="slot ?(\w*)[^"]*"[^>]*?style="grid-row: (\d+) / (\d+)"', html)]


class Balanced(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    VOID = {"br", "link", "meta", "input", "img", "hr"}

    def __init__(self):
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
        self.open.pop()


@pytest.fixture
def eight_to_six(hub):
    hub.opening_hours = {d: [["08:00", "18:00"]] for d in EVERY_DAY}
    hub.save()
    return hub


def test_a_day_is_a_few_blocks_placed_on_its_rows(client_sme, equipment, eight_to_six, sme,
                                                  other_sme, admin_user):
    make_booking(equipment, other_sme, local(2, 10), local(2, 12))
    make_booking(equipment, sme, local(2, 14), local(2, 15), user=admin_user)
    url = reverse("bookings:calendar", args=[equipment.pk])
    response = client_sme.get(url, {"from": local(1, 0).date().isoformat()})
    week = response.context["week"]
    assert len(week.labels) == 20  # 08:00 … 17:30, half an hour a row
    day = [(b.state, b.first, b.last) for b in blocks_of(week, local(2, 0).date())]
    # 08–10 free, 10–12 someone's, 12–14 free, 14–15 ours, 15–18 free: five blocks.
    assert day == [(FREE, 0, 4), (UNAVAILABLE, 4, 8), (FREE, 8, 12), (OWN, 12, 14),
                   (FREE, 14, 20)]
    html = response.content.decode()
    Balanced().feed(html)
    blocks = [b for days in week.columns for d in days for b in d.blocks]
    assert len(grid_rows(html)) == len(blocks) < 7 * 20  # a block each, not a cell per row
    # The grid places each block by its rows (line 1 is the day's heading).
    assert ("unavailable", 6, 10) in grid_rows(html) and ("own", 14, 16) in grid_rows(html)
    # A free block opens the booking form at its start, for its first hour; the form lets
    # the user change the times. Screen readers hear the day, the times and what to do.
    assert (f'href="/catalog/equipment/{equipment.pk}/book/?start={form_time(local(2, 12))}'
            f'&amp;end={form_time(local(2, 13))}"') in html
    assert f'data-start="{form_time(local(2, 12))}"' in html
    assert "12:00–14:00: choose it to book" in html
    assert "Yours: your organisation&#x27;s booking" in html and "14:00–15:00" in html
    assert 'title="Booked or unavailable"' in html and "10:00–12:00" in html
    assert response.context["week"].block_at(local(2, 11)).state == UNAVAILABLE


def test_past_rows_and_closed_days(client_sme, equipment, hub):
    hub.opening_hours = {"mon": [["08:00", "12:00"]]}  # Mondays only
    hub.save()
    now = datetime(2026, 6, 2, 9, 40, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday
    with time_machine.travel(now, tick=False):
        week = client_sme.get(reverse("bookings:calendar", args=[equipment.pk])).context["week"]
    assert week.first_day == date(2026, 6, 2)
    assert [(b.state, b.first, b.last) for b in blocks_of(week, date(2026, 6, 2))] == [
        (CLOSED, 0, 8)]
    monday = blocks_of(week, date(2026, 6, 8))
    assert [(b.state, b.first, b.last) for b in monday] == [(FREE, 0, 8)]
    with time_machine.travel(now - timedelta(days=1), tick=False):  # Monday 09:40
        week = client_sme.get(reverse("bookings:calendar", args=[equipment.pk])).context["week"]
    # 08:00–09:30 have begun (past); free from 10:00 (the grid after now).
    assert [(b.state, b.first, b.last) for b in blocks_of(week, date(2026, 6, 1))] == [
        (PAST, 0, 4), (FREE, 4, 8)]


def test_thirteen_weeks_on_one_page_from_one_query(client_sme, equipment, eight_to_six,
                                                   django_assert_num_queries, sme,
                                                   admin_user):
    equipment.booking_horizon = 120
    equipment.save()
    make_booking(equipment, sme, local(80, 9), local(80, 11), user=admin_user)
    url = reverse("bookings:calendar", args=[equipment.pk])
    first = local(1, 0).date().isoformat()
    client_sme.get(url, {"from": first})  # sessions, caches
    # Session, user, organisation, equipment (its capabilities, which the page does not
    # show, are no longer loaded: 7 queries before), bookings and maintenance in the
    # period, the viewer's own bookings in it.
    with django_assert_num_queries(6) as one:
        client_sme.get(url, {"from": first})
    with django_assert_num_queries(6) as thirteen:
        response = client_sme.get(url, {"from": first, "weeks": "13"})
    # The same statements: one availability read for the whole range, not one per week.
    assert [q["sql"].split(" FROM ")[1].split()[0] for q in one.captured_queries] == \
        [q["sql"].split(" FROM ")[1].split()[0] for q in thirteen.captured_queries]
    week = response.context["week"]
    assert len(week.days) == 91 and len(week.columns) == MAX_WEEKS == 13
    assert week.block_at(local(80, 10)).state == OWN
    assert week.block_at(local(79, 10)).state == FREE
    html = response.content.decode()
    Balanced().feed(html)
    assert html.count('class="week-grid compact"') == 13  # shorter rows for several weeks
    assert f"from={response.context['next'].isoformat()}&amp;weeks=13" in html
    assert 'aria-current="page">13 weeks<' in html


@pytest.mark.parametrize(("asked", "shown"), [("0", 1), ("-3", 1), ("2", 2), ("99", 13),
                                              ("many", 1), ("", 1)])
def test_weeks_asked_for_are_kept_within_one_to_thirteen(client_sme, equipment, asked, shown):
    response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]),
                              {"weeks": asked})
    assert response.status_code == 200
    assert len(response.context["week"].columns) == shown == response.context["weeks"]


def test_viewers_who_cannot_book_see_free_time_without_links(equipment, operator):
    user = MembershipFactory(organization=operator).user
    html = logged_in(user).get(reverse("bookings:calendar", args=[equipment.pk])) \
        .content.decode()
    book = reverse("bookings:book", args=[equipment.pk])
    assert 'class="slot free"' in html and book not in html


def test_the_blocks_in_chinese(client_sme, equipment):
    url = reverse("bookings:calendar", args=[equipment.pk])
    client_sme.cookies["django_language"] = "zh-hans"
    html = client_sme.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">空闲<" in html and "Free<" not in html  # what a free block shows


@pytest.fixture
def berlin_lathe(operator, category):
    hub = HubFactory(operator=operator, name="Berlin", slug="berlin", timezone="Europe/Berlin")
    return make_equipment(hub, category, "berlin-lathe", booking_horizon=300)


@pytest.mark.parametrize(("today", "change", "hours"), [
    (date(2026, 3, 26), date(2026, 3, 29), 23),  # clocks go forward: 02:00 is 03:00
    (date(2026, 10, 22), date(2026, 10, 25), 25),  # clocks go back: 02:00–03:00 twice
])
def test_a_day_whose_clocks_change_is_drawn_on_the_wall_clock(client_sme, berlin_lathe, today,
                                                             change, hours):
    night = datetime.combine(change, datetime.min.time(), tzinfo=BERLIN)
    one = night.replace(hour=1)  # before the change: 01:00 is there once on either day
    MaintenanceWindowFactory(equipment=berlin_lathe, start=one,
                             end=(one.astimezone(UTC) + timedelta(hours=4)).astimezone(BERLIN),
                             reason="calibration")
    with time_machine.travel(datetime.combine(today, datetime.min.time(), tzinfo=BERLIN)
                             + timedelta(hours=12), tick=False):
        response = client_sme.get(reverse("bookings:calendar", args=[berlin_lathe.pk]),
                                  {"from": (change - timedelta(days=1)).isoformat()})
    assert response.status_code == 200
    week = response.context["week"]
    assert len(week.labels) == 48 and week.labels[4] == "02:00"  # open around the clock
    for days in week.columns:
        for day in days:  # every row of every day is in exactly one block
            assert [(b.first, b.last) for b in day.blocks][0][0] == 0
            assert all(a.last == b.first for a, b in zip(day.blocks, day.blocks[1:],
                                                         strict=False))
            assert day.blocks[-1].last == 48
    blocks = [(b.state, b.start.strftime("%H:%M"), b.end.strftime("%H:%M"))
              for b in blocks_of(week, change)]
    # Maintenance from 01:00 for four real hours: to 06:00 in summer time on the short
    # day, to 04:00 in winter time on the long one; free before and after.
    end = "06:00" if hours == 23 else "04:00"
    assert blocks == [(FREE, "00:00", "01:00"), (UNAVAILABLE, "01:00", end),
                      (FREE, end, "00:00")]
    midnight_after = datetime.combine(change + timedelta(days=1), datetime.min.time(),
                                      tzinfo=BERLIN)
    assert midnight_after.astimezone(UTC) - night.astimezone(UTC) == timedelta(hours=hours)
