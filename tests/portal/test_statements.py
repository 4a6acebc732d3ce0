"""The organisation's calendar subscription and the way to its monthly statements in the
portal (issue 15, part 4; statements themselves: issue 16, tests/billing/statements)."""

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import CalendarFeed

pytestmark = pytest.mark.django_db


def test_the_organisation_page_leads_to_calendar_and_statements(client_sme):
    page = client_sme.get(reverse("organizations:page"))
    assert reverse("bookings:statements").encode() in page.content
    part = client_sme.get(reverse("bookings:statements"), HTTP_HX_REQUEST="true")
    assert part.status_code == 200 and b"<html" not in part.content
    assert b"Calendar subscription" in part.content and b"Monthly statements" in part.content


def test_an_admin_makes_and_rotates_the_calendar_url(client_sme, client, sme):
    made = client_sme.post(reverse("bookings:feed"))
    assert made.status_code == 302
    first = CalendarFeed.objects.get(organization=sme, revoked_at__isnull=True)
    page = client_sme.get(reverse("bookings:statements"))
    assert f"/calendar/{first.token}.ics".encode() in page.content
    assert client.get(f"/calendar/{first.token}.ics").status_code == 200
    client_sme.post(reverse("bookings:feed"))
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert client.get(f"/calendar/{first.token}.ics").status_code == 404
    assert CalendarFeed.objects.filter(organization=sme, revoked_at__isnull=True).count() == 1


def test_a_member_cannot_make_the_calendar_url(member_user, sme):
    from .conftest import logged_in

    response = logged_in(member_user).post(reverse("bookings:feed"), follow=True)
    assert b"Only your organisation" in response.content
    assert not CalendarFeed.objects.filter(organization=sme).exists()


def _this_month_at(hour: int, day: int = 1):
    now = timezone.localtime()
    return datetime(now.year, now.month, day, hour, tzinfo=now.tzinfo)


def test_statements_moved_to_the_statements_pages(client_sme):
    """The monthly figures are the hubs' statements now (billing.statements, tested in
    tests/billing/statements): the account page links there, the old CSV address too."""
    page = client_sme.get(reverse("bookings:statements"))
    assert reverse("billing:statements").encode() in page.content
    old = client_sme.get("/organisation/statements/2026-11.csv")
    assert old.status_code == 302
    assert old["Location"] == reverse("billing:statements") + "?month=2026-11"
    assert client_sme.get("/organisation/statements/2026-13.csv").status_code == 404


def test_the_rule_is_the_services(member_user, admin_user, sme):
    """Only an administrator makes the organisation's calendar URL, whichever door."""
    from bookings import services
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.rotate_organization_feed(organization=sme, by_user=member_user)
    assert services.rotate_organization_feed(organization=sme, by_user=admin_user).token
