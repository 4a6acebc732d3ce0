"""The console's reports (utilisation and billing with charts and CSV downloads, this
month by default) and the universities' datasets (their own releases only; terms and
package)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from organizations.models import Membership, Organization
from tests.factories import HubFactory, MembershipFactory, UserFactory, booked_quote
from tests.fixtures.world import make_booking, make_equipment, make_org

from .conftest import logged_in
from .test_setup_world import make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(equipment, sme):
    """A completed two-hour booking at the start of this month's second day, with the
    quote it was priced with (billing reads statement lines, made from quote lines)."""
    start = timezone.localtime().replace(day=2, hour=9, minute=0, second=0, microsecond=0)
    booking = make_booking(
        equipment, sme, start, start + timedelta(hours=2), status=Booking.Status.COMPLETED
    )
    booked_quote(booking)
    return booking


def test_reports_default_to_this_month_with_charts(console_member, completed, other_equipment):
    page = console_member.get(reverse("console:reports"))
    assert page.status_code == 200
    today = timezone.localdate()
    form = page.context["form"]
    assert form.cleaned_data["start"] == today.replace(day=1)
    assert form.cleaned_data["month"] == today.replace(day=1)
    assert [row.equipment for row, _u, _n in page.context["rows"]] == ["DMU 50"]
    bills = page.context["bills"]
    assert [b.organization_name for b in bills] == ["Precision Parts"]
    assert bills[0].amount == completed.price
    content = page.content.decode()
    assert content.count("<svg") == 2 and "<script" not in content.split("<svg", 1)[1]
    assert "Other CNC" not in content


def parse(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_csv_downloads_parse(console_member, completed):
    page = console_member.get(reverse("console:reports"))
    utilization = parse(
        console_member.get(reverse("console:reports") + page.context["utilization_csv"])
    )
    assert [(r["equipment"], r["booked_hours"]) for r in utilization] == [("DMU 50", "2.00")]
    billing = parse(console_member.get(reverse("console:reports") + page.context["billing_csv"]))
    assert [(r["organization_name"], r["completed"]) for r in billing] == [("Precision Parts", "1")]


def test_a_bad_period_is_refused_at_the_form(console_member):
    response = console_member.get(
        reverse("console:reports"), {"start": "2026-03-10", "end": "2026-03-01", "month": "2026-03"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors
    response = console_member.get(
        reverse("console:reports"), {"start": "x", "end": "2026-03-01", "month": "13"}
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"start", "month"}


# --- universities' datasets -------------------------------------------------------------


@pytest.fixture
def release(operator, university, hub, category, equipment, sme, tmp_path, settings):
    return make_release(
        operator=operator,
        university=university,
        hub=hub,
        category=category,
        equipment=equipment,
        sme=sme,
        media_root=tmp_path,
        settings=settings,
        content=b"PK-the-package",
    )


@pytest.fixture
def dean(university):
    return logged_in(
        MembershipFactory(
            organization=university,
            role=Membership.Role.MEMBER,
            user=UserFactory(email="member@tsinghua.test"),
        ).user
    )


def test_a_university_sees_its_releases_terms_and_package(dean, release):
    listing = dean.get(reverse("console:datasets"))
    assert listing.status_code == 200
    assert [r.pk for r in listing.context["releases"]] == [release.pk]
    detail = dean.get(reverse("console:dataset", args=[release.pk]))
    assert detail.status_code == 200
    assert b"CC-BY-4.0" in detail.content and b"Creative Commons Attribution 4.0" in detail.content
    assert b"Precision Parts" not in detail.content  # anonymised as agreed
    package = dean.get(reverse("console:dataset-package", args=[release.pk]))
    assert package.status_code == 200
    assert b"".join(package.streaming_content) == b"PK-the-package"
    assert package["Content-Type"] == "application/zip"


def test_a_university_sees_only_its_own_releases(
    release, operator, hub, category, equipment, sme, tmp_path, settings
):
    other = make_org("pku", Organization.Kind.UNIVERSITY, name="Peking Lab")
    theirs = logged_in(
        MembershipFactory(
            organization=other, role=Membership.Role.ADMIN, user=UserFactory(email="dean@pku.test")
        ).user
    )
    assert theirs.get(reverse("console:datasets")).context["releases"].count() == 0
    for name in ("console:dataset", "console:dataset-package"):
        assert theirs.get(reverse(name, args=[release.pk])).status_code == 404


def test_a_revoked_agreement_takes_the_release_away(dean, release):
    release.agreement.revoked_at = timezone.now()
    release.agreement.save()
    assert dean.get(reverse("console:dataset", args=[release.pk])).status_code == 404


def test_operators_do_not_get_the_university_pages(console_admin, release):
    assert console_admin.get(reverse("console:datasets")).status_code == 403


def test_the_university_nav_links_to_datasets(dean, release):
    page = dean.get(reverse("console:datasets"))
    assert reverse("console:datasets").encode() in page.content
    assert b'aria-current="page"' in page.content


def test_report_charts_escape_names(console_member, operator, category, sme):
    hub = HubFactory(operator=operator, name="<b>Hub</b>", slug="xss")
    make_equipment(hub, category, "x", name="<script>alert(1)</script>")
    page = console_member.get(reverse("console:reports"))
    assert b"<script>alert(1)</script>" not in page.content
