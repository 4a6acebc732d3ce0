"""UI review, second pass: time zones in words, grouped money in Chinese, no nested
brackets for an organisation's kind, phone-sized trial charts, a demo with a request to
decide and a dataset delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from bookings.models import Booking
from equipment.templatetags.catalogue import tz_label, zone_label
from organizations.models import Membership, Organization
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures.world import collected_trial, local, make_booking
from trials import charts, sharing

pytestmark = pytest.mark.django_db
WINTER = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)


def logged_in(organization, role=Membership.Role.ADMIN) -> Client:
    client = Client()
    client.force_login(
        MembershipFactory(organization=organization, role=role, user=UserFactory()).user
    )
    return client


# 1. Time-zone names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "China Standard Time (UTC+08:00)"),
        ("zh-hans", "中国标准时间（UTC+08:00）"),
    ],
)
def test_shanghai_in_words_with_its_offset(language, expected):
    with translation.override(language):
        assert zone_label("Asia/Shanghai", at=WINTER) == expected


def test_other_zones_show_their_city_and_current_offset():
    with translation.override("en"):
        assert zone_label("Europe/Berlin", at=WINTER) == "Berlin (UTC+01:00)"
        assert zone_label("Europe/Berlin", at=SUMMER) == "Berlin (UTC+02:00)"  # summer time
        assert zone_label("America/New_York", at=WINTER) == "New York (UTC-05:00)"
        assert zone_label("Asia/Kolkata", at=WINTER) == "Kolkata (UTC+05:30)"
        assert zone_label("Not/AZone") == "Not/AZone"  # unknown: as stored, never a 500


def test_bracketed_form_never_nests_brackets():
    with translation.override("en"):
        assert zone_label("Asia/Shanghai", at=WINTER, bracketed=True) == (
            "China Standard Time, UTC+08:00"
        )
    with translation.override("zh-hans"):
        assert zone_label("Asia/Shanghai", at=WINTER, bracketed=True) == "中国标准时间，UTC+08:00"
        assert tz_label("Asia/Shanghai", "bracketed") == "中国标准时间，UTC+08:00"


def test_filter_in_a_template_takes_a_name_or_a_zone():
    template = Template('{% load catalogue %}{{ a|tz_label }}|{{ b|tz_label:"bracketed" }}')
    with translation.override("en"):
        rendered = template.render(
            Context({"a": "Asia/Shanghai", "b": timezone.get_default_timezone()})
        )
    assert rendered.startswith("China Standard Time (UTC+08:00)|")
    assert "Asia/" not in rendered


def test_pages_name_the_zone_in_words(sme, equipment):
    booking = make_booking(equipment, sme, local(3, 10), local(3, 12))
    client = logged_in(sme)
    for lang, words, raw in (
        ("en", "China Standard Time", "Asia/Shanghai"),
        ("zh-hans", "中国标准时间", "Asia/Shanghai"),
    ):
        client.cookies["django_language"] = lang
        for url in (
            reverse("bookings:detail", args=[booking.pk]),
            reverse("bookings:calendar", args=[equipment.pk]),
        ):
            html = client.get(url, HTTP_ACCEPT_LANGUAGE=lang).content.decode()
            assert words in html, (lang, url)
            assert raw not in html, (lang, url)
            assert "((" not in html and "（（" not in html and "））" not in html
        # The booking form names it too (its policy list, equipment/wording.py, not yet)
        html = client.get(
            reverse("bookings:book", args=[equipment.pk]), HTTP_ACCEPT_LANGUAGE=lang
        ).content.decode()
        assert words in html


# 2. Money in Chinese ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_money_is_grouped_by_thousands(language):
    template = Template('¥{{ a|floatformat:"2g" }} ¥{{ b|floatformat:"2g" }}')
    with translation.override(language):
        assert template.render(Context({"a": 4960, "b": 1234567.5})) == ("¥4,960.00 ¥1,234,567.50")


# 3. An organisation's kind without nested brackets ---------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "You act for AutoWorks, a flagship firm (hub operator)."),
        ("zh-hans", "您代表AutoWorks，这是一家龙头企业（基地运营方）。"),
    ],
)
def test_portal_page_for_an_operator_does_not_nest_brackets(operator, language, expected):
    client = logged_in(operator)
    client.cookies["django_language"] = language
    response = client.get(reverse("bookings:list"), HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert response.status_code == 403
    assert expected in html
    assert "((" not in html and "))" not in html and "））" not in html


def test_console_page_for_an_sme_names_its_kind_plainly(sme):
    response = logged_in(sme).get(reverse("console:home"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 403
    assert f"You act for {sme.name}, a small or medium enterprise." in html
    assert "(Small or medium enterprise)" not in html


def test_university_reads_its_kind_too():
    university = Organization.objects.create(
        kind=Organization.Kind.UNIVERSITY, name="Tsinghua Lab", slug="tsinghua-lab"
    )
    html = logged_in(university).get(reverse("bookings:list")).content.decode()
    assert "You act for Tsinghua Lab, a university." in html


# 4. Trial charts on phones ---------------------------------------------------------------


def test_trial_charts_are_drawn_phone_wide_with_large_type(sme, equipment):
    trial = collected_trial(
        make_booking(equipment, sme, local(-2, 9), local(-2, 11), status=Booking.Status.COMPLETED)
    )
    drawn = charts.trial_charts(
        trial, ZoneInfo(equipment.hub.timezone), title_for=lambda label, unit: f"{label} ({unit})"
    )
    assert drawn
    for chart in drawn:
        assert f'width="{charts.CHART_WIDTH}"' in chart.svg or (
            f"0 0 {charts.CHART_WIDTH} {charts.CHART_HEIGHT}" in chart.svg
        )
        assert charts.CHART_WIDTH <= 480  # about as wide as a phone shows it …
        assert f'style="max-width: {charts.CHART_MAX_WIDTH}px"' in chart.svg  # … not huge
        # type at 390 px stays readable: scaled to ~340 px, 15 px text is ~11.6 px
        assert charts.CHART_STYLE.label_font_size * 340 / charts.CHART_WIDTH >= 11
        assert chart.title and chart.title in chart.svg  # named in its <title> …
        assert f">{chart.title}</text>" not in chart.svg  # … not drawn: the caption has it


def test_results_page_puts_the_chart_title_in_the_caption(sme, equipment):
    trial = collected_trial(
        make_booking(equipment, sme, local(-2, 9), local(-2, 11), status=Booking.Status.COMPLETED)
    )
    html = (
        logged_in(sme)
        .get(reverse("trials:detail", args=[trial.pk]), HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    assert '<figcaption class="chart-title"><strong>spindle load (%) over time</strong>' in html
    assert "China Standard Time (UTC+08:00)" in html


# 5. Demo data ----------------------------------------------------------------------------


def test_demo_has_a_request_to_decide_and_a_dataset_for_the_university():
    call_command("seed_demo", "--no-keys", stdout=StringIO())
    waiting = Booking.objects.filter(
        status=Booking.Status.REQUESTED,
        equipment__hub__operator__slug="autoworks",
        equipment__approval_required=True,
        start__gt=timezone.now(),
    )
    assert waiting.count() == 1
    tsinghua = Organization.objects.get(slug="tsinghua")
    released = sharing.releases_for_university(tsinghua)
    assert released.count() == 1
    release = released.get()
    assert release.consent.revoked_at is None and release.sha256 and release.package
    assert release.trial.booking.organization.slug == "precisionparts"

    call_command("seed_demo", "--no-keys", stdout=StringIO())  # idempotent
    assert waiting.count() == 1 and sharing.releases_for_university(tsinghua).count() == 1
