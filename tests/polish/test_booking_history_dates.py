"""The booking page's history table gives its dates in the page's one format, in the hub's
time zone (it once gave US month/day)."""

from __future__ import annotations

import pytest

from tests.fixtures.world import local, make_booking
from tests.portal.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "pattern"), [("en", "{d} {mon} {y}, {hm}"), ("zh-hans", "{y}年{m}月{d}日 {hm}")]
)
def test_history_dates(equipment, sme, language, pattern):
    from tests.factories import MembershipFactory, UserFactory

    user = MembershipFactory(
        organization=sme, role="admin", user=UserFactory(email="lead@p.test")
    ).user
    booking = make_booking(equipment, sme, local(3, 9), local(3, 11), user=user)
    event = booking.events.order_by("at").first()
    at = event.at.astimezone(local(0, 0).tzinfo)
    client = logged_in(user)
    client.cookies["django_language"] = language
    html = client.get(f"/bookings/{booking.pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    expected = pattern.format(
        d=at.day, m=at.month, y=at.year, mon=at.strftime("%b"), hm=at.strftime("%H:%M")
    )
    assert expected in html
    assert at.strftime("%m/%d/%Y") not in html
