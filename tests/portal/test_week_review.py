"""The week page after its browser review: an anonymous click goes to the login page whole
(not into the page), short day names, free periods cut by the edge of the days shown,
"24:00", the next link within the horizon, both offsets over a change of the clocks, today
and now, yours linking to the booking, both years in the title, the skip link."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import formats

from bookings.portal.week import FREE, OWN, UNAVAILABLE
from tests.factories import HubFactory
from tests.fixtures.world import make_equipment

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def calendar(client, equipment, **params):
    return client.get(reverse("bookings:calendar", args=[equipment.pk]), params)


def test_an_anonymous_htmx_click_sends_the_whole_page_to_the_login(client, equipment):
    book = (reverse("bookings:book", args=[equipment.pk])
            + "?start=2026-12-02T15:00&end=2026-12-02T16:00")
    response = client.get(book, HTTP_HX_REQUEST="true")
    # htmx follows HX-Redirect with a full page load: the login page is not swapped into
    # the booking panel. It comes back to the booking asked for.
    assert response.status_code == 200 and response.content == b""
    target = urlsplit(response["HX-Redirect"])
    assert target.path == resolve_url(settings.LOGIN_URL)
    assert parse_qs(target.query)["next"] == [book]
    plain = client.get(book)  # without htmx: the usual redirect
    assert plain.status_code == 302 and "HX-Redirect" not in plain
    assert urlsplit(plain["Location"]).path == resolve_url(settings.LOGIN_URL)
    assert parse_qs(urlsplit(plain["Location"]).query)["next"] == [book]


def test_free_periods_cut_by_the_edge_of_the_days_stay_free(client_sme, equipment,
                                                             other_sme):
    # Free 23:30 (the day before the first day shown) to 00:30, and 23:30 on the last day
    # to 01:00 after it: 30 minutes inside the days, under the 1-hour minimum.
    make_booking(equipment, other_sme, local(1, 20), local(1, 23, 30))
    make_booking(equipment, other_sme, local(2, 0, 30), local(2, 3))
    make_booking(equipment, other_sme, local(8, 20), local(8, 23, 30))
    make_booking(equipment, other_sme, local(9, 1), local(9, 3))
    response = calendar(client_sme, equipment, **{"from": local(2, 0).date().isoformat()})
    week = response.context["week"]
    assert week.block_at(local(2, 0)).state == FREE
    assert week.block_at(local(8, 23, 30)).state == FREE
    assert week.block_at(local(8, 22)).state == UNAVAILABLE
    # The list under the grid shows the periods whole, beyond the days shown.
    edge = next(s for s in week.free if s.start == local(1, 23, 30))
    assert edge.end == local(2, 0, 30) and edge.text.endswith("00:30")
    last = next(s for s in week.free if s.start == local(8, 23, 30))
    assert last.end == local(9, 1) and last.text.endswith("01:00")
    # A click on the cut block proposes the minimum booking inside the free period.
    html = response.content.decode()
    assert f"start={form_time(local(1, 23, 30))}&amp;end={form_time(local(2, 0, 30))}" in html


def test_a_full_day_ends_at_24_00(client_sme, equipment, other_sme):
    make_booking(equipment, other_sme, local(5, 0), local(5, 2))
    response = calendar(client_sme, equipment, **{"from": local(2, 0).date().isoformat()})
    week = response.context["week"]
    day = next(d for days in week.columns for d in days if d.date == local(3, 0).date())
    assert [(b.state, b.times) for b in day.blocks] == [(FREE, "00:00–24:00")]
    assert "00:00–24:00: choose it to book" in day.blocks[0].label
    html = response.content.decode()
    assert "<small>00:00–24:00</small>" in html and "–00:00" not in html
    # A period ending at midnight ends at 24:00 of the day before, in the list too.
    period = next(s for s in week.free if s.end == local(5, 0))
    day = formats.date_format(local(4, 0).date(), "MONTH_DAY_FORMAT")
    assert period.text.endswith(f"–{local(4, 0):%a} {day} 24:00"), period.text


def test_the_next_link_stays_within_the_horizon(client_sme, equipment):
    equipment.booking_horizon = 10
    equipment.save()
    today = local(0, 0).date()
    response = calendar(client_sme, equipment)
    assert response.context["next"] == today + timedelta(days=7)
    assert 'rel="next"' in response.content.decode()
    # The next seven days would start past the last bookable day: no link.
    response = calendar(client_sme, equipment, **{"from": (today + timedelta(days=7))
                                                   .isoformat()})
    assert response.context["next"] is None and 'rel="next"' not in response.content.decode()
    response = calendar(client_sme, equipment, weeks="13")
    assert response.context["next"] is None
    equipment.booking_horizon = 120
    equipment.save()
    response = calendar(client_sme, equipment, weeks="13")
    assert response.context["next"] == today + timedelta(days=91)  # right after, no overlap


@pytest.fixture
def berlin_lathe(operator, category):
    hub = HubFactory(operator=operator, name="Berlin", slug="berlin", timezone="Europe/Berlin")
    return make_equipment(hub, category, "berlin-lathe", booking_horizon=300)


def test_the_time_zone_line_lists_both_offsets_over_a_change(client_sme, berlin_lathe):
    with time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=ZoneInfo("Europe/Berlin")),
                             tick=False):
        changing = calendar(client_sme, berlin_lathe, **{"from": "2026-03-27"})
        steady = calendar(client_sme, berlin_lathe, **{"from": "2026-04-06"})
    march_29 = formats.date_format(date(2026, 3, 29), "MONTH_DAY_FORMAT")  # "29 Mar"
    assert changing.context["week"].zone == f"Berlin, UTC+01:00; UTC+02:00 from {march_29}"
    assert f"(Berlin, UTC+01:00; UTC+02:00 from {march_29})" in changing.content.decode()
    assert steady.context["week"].zone.endswith(", UTC+02:00")
    assert ";" not in steady.context["week"].zone


def test_today_now_yours_and_the_block_times(client_sme, equipment, hub, sme, admin_user):
    hub.opening_hours = {d: [["08:00", "18:00"]] for d in EVERY_DAY}
    hub.save()
    now = datetime(2026, 6, 2, 9, 40, tzinfo=SHANGHAI)  # a Tuesday
    at = [now.replace(hour=hour, minute=0) for hour in (12, 13, 14)]
    first = make_booking(equipment, sme, at[0], at[1], user=admin_user)
    second = make_booking(equipment, sme, at[1], at[2], user=admin_user)
    with time_machine.travel(now, tick=False):
        response = calendar(client_sme, equipment)
    html = response.content.decode()
    week = response.context["week"]
    today = week.columns[0][0]
    assert today.today and today.short == "Tue" and not week.columns[0][1].today
    assert html.count('aria-current="date"') == 1
    name = f"Tuesday {formats.date_format(now.date(), 'MONTH_DAY_FORMAT')}"
    assert f'<div class="week-day today" role="group" aria-label="{name}"' \
           ' aria-current="date">' in html
    # Now (09:40) is a third of the way through the 09:30 row (row 3, grid line 5).
    assert '<span class="week-now" aria-hidden="true" style="grid-row: 5; --at: 33%">' in html
    # Two bookings of yours side by side: two blocks, each linking to its booking.
    own = [b for b in today.blocks if b.state == OWN]
    assert [(b.booking, b.times) for b in own] == [(first.pk, "12:00–13:00"),
                                                   (second.pk, "13:00–14:00")]
    for booking in (first, second):
        assert (f'<a class="slot own" title="Your booking" '
                f'href="{reverse("bookings:detail", args=[booking.pk])}"') in html
    assert "<small>14:00–18:00</small>" in html  # blocks of two rows or more: their times
    # The free blocks carry their end for week.js; the grid its row and booking lengths.
    assert f'data-end="{form_time(now.replace(hour=18, minute=0))}"' in html
    assert 'data-step="30" data-length="60"' in html


def test_the_title_shows_both_years_and_several_weeks_a_skip_link(client_sme, equipment):
    with time_machine.travel(datetime(2026, 12, 29, 9, tzinfo=SHANGHAI), tick=False):
        four = calendar(client_sme, equipment, weeks="4").content.decode()
        one = calendar(client_sme, equipment).content.decode()
    assert ">29 Dec 2026 – 25 Jan 2027</h2>" in four
    assert ">29 Dec 2026 – 4 Jan 2027</h2>" in one
    assert 'href="#free-periods"' in four and 'id="free-periods"' in four
    assert 'href="#free-periods"' not in one
    assert 'class="week-grid compact"' in four and 'class="week-grid"' in one


def test_chinese_day_headings_are_short(client_sme, equipment):
    client_sme.cookies["django_language"] = "zh-hans"
    with time_machine.travel(datetime(2026, 6, 2, 9, tzinfo=SHANGHAI), tick=False):
        response = client_sme.get(reverse("bookings:calendar", args=[equipment.pk]),
                                  HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert ">周二<br>" in html and "星期二<br>" not in html
    assert date(2026, 6, 2) == response.context["week"].columns[0][0].date
