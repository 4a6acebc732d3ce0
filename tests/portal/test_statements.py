"""The organisation's calendar subscription and monthly statements in the portal (issue
15, part 4): the feed made and rotated through the feed code, statements from the billing
report for this SME only, with a CSV download."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking, CalendarFeed

from .conftest import make_booking

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


def test_statement_of_the_month_with_csv(client_sme, equipment, sme, other_sme, admin_user):
    start = _this_month_at(9)  # Shanghai time, this month
    make_booking(
        equipment,
        sme,
        start,
        start + timedelta(hours=2),
        status=Booking.Status.COMPLETED,
        user=admin_user,
        price=Decimal("800.00"),
    )
    make_booking(
        equipment,
        other_sme,
        start + timedelta(hours=3),
        start + timedelta(hours=4),
        status=Booking.Status.COMPLETED,
        price=Decimal("400.00"),
    )
    month = f"{start:%Y-%m}"
    page = client_sme.get(reverse("bookings:statements"), {"month": month})
    bill = page.context["bill"]
    assert bill.amount == Decimal("800.00") and len(bill.lines) == 1
    assert bill.lines[0].organization == sme.slug
    csv = client_sme.get(reverse("bookings:statement-csv", args=[start.year, start.month]))
    assert csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"].startswith("attachment;")
    body = csv.content.decode("utf-8-sig")
    rows = body.strip().splitlines()
    assert rows[0].startswith("month,organization") and len(rows) == 2
    assert "precision" in rows[1] and "800.00" in rows[1] and "greenmotor" not in body


def test_an_empty_month_and_a_bad_month(client_sme):
    page = client_sme.get(reverse("bookings:statements"), {"month": "1999-01"})
    assert page.context["bill"] is None and b"Nothing billed" in page.content
    assert client_sme.get(reverse("bookings:statements"), {"month": "garbage"}).status_code == 200
    assert client_sme.get("/organisation/statements/2026-13.csv").status_code == 404


def test_the_rule_is_the_services(member_user, admin_user, sme):
    """Only an administrator makes the organisation's calendar URL, whichever door."""
    from bookings import services
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.rotate_organization_feed(organization=sme, by_user=member_user)
    assert services.rotate_organization_feed(organization=sme, by_user=admin_user).token
