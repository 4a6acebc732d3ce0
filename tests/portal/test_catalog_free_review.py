"""The catalogue's free search after the browser review: the minimum-length input takes any
minute, cards name their time zone and booking lengths and link each period to the booking
form, the heading states the period searched and which results show, date-only values
redisplay, and a past period is refused."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import translation

from bookings.forms import CatalogSearchForm
from bookings.portal.finder import FreeSearchForm, book_slot, booking_lengths
from tests.factories import EquipmentFactory

from .conftest import form_time, local, make_booking

pytestmark = pytest.mark.django_db
URL = "/catalog/"


def search(client, start, end, **extra):
    return client.get(reverse("bookings:catalog"),
                      {"free_from": form_time(start), "free_until": form_time(end), **extra})


def test_the_minimum_length_input_takes_any_whole_minute():
    widget = FreeSearchForm().fields["min_minutes"].widget
    assert widget.attrs["step"] == 1
    html = str(FreeSearchForm()["min_minutes"])
    assert 'step="1"' in html and 'min="1"' in html
    form = FreeSearchForm({"free_from": form_time(local(2, 9)),
                           "free_until": form_time(local(2, 12)), "min_minutes": "60"})
    assert form.is_valid(), form.errors


def test_form_and_results_are_one_htmx_swap_target(client, equipment):
    text = client.get(reverse("bookings:catalog")).content.decode()
    assert 'hx-target="#catalog-search" hx-select="#catalog-search"' in text
    wrapper = text.index('<div id="catalog-search">')
    assert wrapper < text.index('role="search"') < text.index('id="results"')
    # An htmx search with the end before the start: the swapped part carries the error.
    response = client.get(reverse("bookings:catalog"),
                          {"free_from": form_time(local(2, 9)),
                           "free_until": form_time(local(2, 8))}, HTTP_HX_REQUEST="true")
    swapped = response.content.decode()[wrapper:]
    assert "The end must be after the start." in swapped.split('id="results"')[0]


def test_cards_state_the_zone_and_the_booking_lengths(client, equipment):
    text = search(client, local(2, 9), local(2, 17)).content.decode()
    assert "Free (China Standard Time, UTC+08:00):" in text
    assert "Bookings of 1–8 h" in text
    client.cookies["django_language"] = "zh-hans"
    chinese = search(client, local(2, 9), local(2, 17)).content.decode()
    assert "中国标准时间，UTC+08:00" in chinese


@translation.override("en")
def test_booking_lengths_in_words(equipment):
    equipment.min_duration, equipment.max_duration = 30, 480
    assert booking_lengths(equipment) == "Bookings of 30 min–8 h"
    equipment.min_duration = equipment.max_duration = 120
    assert booking_lengths(equipment) == "Bookings of 2 h"


def test_each_period_links_to_the_booking_form_from_its_start(client_sme, equipment,
                                                              other_sme):
    # Free 09:00–10:00 and 12:00–12:30 (a period shorter than the minimum is not listed)
    # then 13:00–17:00 on day 2.
    make_booking(equipment, other_sme, local(2, 10), local(2, 13))
    response = search(client_sme, local(2, 9), local(2, 17))
    book = reverse("bookings:book", args=[equipment.pk])
    day = local(2, 0).strftime("%Y-%m-%d")
    text = response.content.decode()
    assert f'href="{book}?start={day}T09:00&amp;end={day}T10:00"' in text
    assert f'href="{book}?start={day}T13:00&amp;end={day}T14:00"' in text
    # The link is what the week page's free blocks open: the form shows the same period.
    form = client_sme.get(f"{book}?start={day}T13:00&end={day}T14:00").context["form"]
    assert str(form["start"].value()).startswith(f"{day} 13:00")


def test_a_period_shorter_than_the_minimum_books_it_clipped(hub, category):
    machine = EquipmentFactory(hub=hub, category=category, name="Short", min_duration=120,
                               max_duration=480, slot_granularity=30, lead_time=0)
    start = local(3, 9)
    day = start.strftime("%Y-%m-%d")
    clipped = book_slot(machine, start, start + timedelta(hours=1))
    assert (clipped.book_start, clipped.book_end) == (start, start + timedelta(hours=1))
    assert clipped.query == f"start={day}T09:00&end={day}T10:00"
    whole = book_slot(machine, start, start + timedelta(hours=5))
    assert whole.query == f"start={day}T09:00&end={day}T11:00"


def test_book_links_only_for_those_who_may_book(client, client_sme, equipment, operator):
    from organizations.models import Membership
    from tests.factories import MembershipFactory, UserFactory

    from .conftest import logged_in

    book = reverse("bookings:book", args=[equipment.pk])
    assert book in search(client, local(2, 9), local(2, 12)).content.decode()  # log in first
    assert book in search(client_sme, local(2, 9), local(2, 12)).content.decode()
    ops = logged_in(MembershipFactory(organization=operator, role=Membership.Role.ADMIN,
                                      user=UserFactory()).user)
    assert book not in search(ops, local(2, 9), local(2, 12)).content.decode()


def test_the_heading_states_period_zone_and_results_shown(client, hub, category):
    for _ in range(30):
        EquipmentFactory(hub=hub, category=category)
    start, end = local(7, 0), local(14, 0)
    first = search(client, start, end)
    text = first.content.decode()
    heading = (f"Free between {start:%a} {start.day} {start:%b} 00:00 and "
               f"{end:%a} {end.day} {end:%b} 00:00 "
               f"(China Standard Time, UTC+08:00)")
    assert heading in text, text[text.index("results-heading"):][:400]
    assert "showing 1–24" in text
    params = {k: v[0] for k, v in parse_qs(urlsplit("?" + first.context["next_page"]).query)
              .items()}
    assert params["n"] == "25"
    second = client.get(reverse("bookings:catalog"), params).content.decode()
    assert "showing 25–30" in second
    junk = client.get(reverse("bookings:catalog"), {**params, "n": "x"}).content.decode()
    assert "showing 1–6" in junk
    client.cookies["django_language"] = "zh-hans"
    chinese = search(client, start, end).content.decode()
    assert "中国标准时间，UTC+08:00" in chinese


def test_date_only_values_redisplay_in_the_inputs_format(client, equipment):
    day = local(3, 0).date().isoformat()
    until = local(5, 0).date().isoformat()
    response = client.get(reverse("bookings:catalog"), {"free_from": day, "free_until": until})
    assert response.context["form"].window is not None
    text = response.content.decode()
    assert f'value="{day}T00:00"' in text and f'value="{until}T00:00"' in text
    # What cannot be read is shown as typed, next to its error.
    bad = client.get(reverse("bookings:catalog"), {"free_from": "soon", "free_until": until})
    assert 'value="soon"' in bad.content.decode()
    assert "free_from" in bad.context["form"].errors


@translation.override("en")
def test_a_period_entirely_in_the_past_is_refused():
    form = CatalogSearchForm({"free_from": form_time(local(-3, 9)),
                              "free_until": form_time(local(-2, 9))})
    assert not form.is_valid() and form.window is None
    assert form.errors == {"free_until": ["This period is over."]}
    ongoing = CatalogSearchForm({"free_from": form_time(local(-1, 9)),
                                 "free_until": form_time(local(2, 9))})
    assert ongoing.is_valid(), ongoing.errors

