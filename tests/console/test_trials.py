"""A booking's trial in the console (console/trials.py): the operator reads what the SME
reads — collection status, usage, gaps, the summary table and charts, the live panel while
the booking is checked in, the readings as CSV — for trials at its own hubs only.

AutoWorks (the shared world's operator) runs Yizhuang with the DMU 50; PhoneTech
(``other_operator``) runs Shunyi with the Other CNC (tests/console/conftest.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from tests.factories import TrialFactory
from tests.fixtures.world import collected_trial, local, make_booking
from trials.models import Observation, Trial

pytestmark = pytest.mark.django_db
S = Booking.Status


@pytest.fixture
def completed(equipment, sme) -> Booking:
    return make_booking(equipment, sme, local(-1, 9), local(-1, 11), status=S.COMPLETED)


@pytest.fixture
def running(equipment, sme) -> Booking:
    """Checked in 10 minutes ago, ends in 50 minutes, with its trial open."""
    now = timezone.now().replace(second=0, microsecond=0)
    booking = make_booking(
        equipment,
        sme,
        now - timedelta(minutes=10),
        now + timedelta(minutes=50),
        status=S.CHECKED_IN,
        checked_in_at=now - timedelta(minutes=10),
    )
    TrialFactory(booking=booking)
    return booking


def _page(client, pk: int):
    return client.get(reverse("console:trial", args=[pk]))


def test_the_operator_reads_a_collected_trial(console_member, completed):
    trial = collected_trial(completed, readings=12)
    response = _page(console_member, trial.pk)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Trial #{trial.pk}: DMU 50" in html
    assert '<span class="badge collected">Collected</span>' in html
    assert "Precision Parts" in html  # whose trial it is
    assert "<dt>Booked</dt><dd>2 h</dd>" in html
    # The summary table: one row per metric, with its count.
    assert '<th scope="row" data-label="Metric">spindle_load</th>' in html
    assert '<th scope="row" data-label="Metric">vibration_rms</th>' in html
    assert html.count('<td data-label="Readings" class="num">12</td>') == 2
    assert html.count("<svg") == 2  # a chart per metric
    csv_url = reverse("console:trial_csv", args=[trial.pk])
    assert f'href="{csv_url}" download>Download CSV (24 readings)' in html
    back = reverse("console:booking", args=[completed.pk])
    assert f'href="{back}"' in html
    assert 'id="live"' not in html  # no live panel after the booking


def test_the_admin_reads_it_too(console_admin, completed):
    trial = collected_trial(completed, readings=3)
    assert _page(console_admin, trial.pk).status_code == 200


def test_another_operators_trial_is_not_found(seats, completed, other_equipment, other_sme):
    trial = collected_trial(completed, readings=3)
    other = seats["other_flagship"]
    for name in ("console:trial", "console:trial_live", "console:trial_csv"):
        assert other.get(reverse(name, args=[trial.pk])).status_code == 404, name
    # Its own trial is there for it: the 404 above is about whose hub it is.
    theirs = make_booking(
        other_equipment, other_sme, local(-1, 9), local(-1, 10), status=S.COMPLETED
    )
    collected_trial(theirs, readings=3)
    assert other.get(reverse("console:trial", args=[theirs.pk])).status_code == 200


def test_no_such_trial_is_not_found(console_member, equipment, sme):
    requested = make_booking(equipment, sme, local(2, 9), local(2, 10), status=S.REQUESTED)
    assert _page(console_member, requested.pk).status_code == 404  # no trial before approval
    assert _page(console_member, 999_999).status_code == 404


def test_sme_and_university_are_told_the_console_is_not_for_them(seats, completed):
    trial = collected_trial(completed, readings=3)
    for seat in ("sme", "university"):
        assert _page(seats[seat], trial.pk).status_code == 403, seat


def test_before_completion_it_says_when_results_come(console_member, equipment, sme):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 10), status=S.CONFIRMED)
    TrialFactory(booking=booking)
    html = _page(console_member, booking.pk).content.decode()
    assert '<span class="badge pending">Pending</span>' in html
    assert "No results yet. They are collected from the equipment once you complete" in html
    assert "<svg" not in html and 'id="summary-h"' not in html


def test_a_failed_collection_says_how_to_upload(console_member, completed):
    TrialFactory(booking=completed, status=Trial.Status.FAILED, last_error="gateway said 500")
    html = _page(console_member, completed.pk).content.decode()
    assert 'id="trial-failed"' in html
    assert f"<code>POST /api/v1/trials/{completed.pk}/results/</code>" in html
    assert "gateway said 500" not in html  # the source's answer stays in the log


def test_the_collected_trials_gaps_are_listed(console_member, completed):
    trial = collected_trial(completed, readings=3)
    start = completed.start + timedelta(minutes=30)
    Trial.objects.filter(pk=trial.pk).update(
        gaps=[
            {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=2)).isoformat(),
                "seconds": 120.0,
                "reason": "disconnected",
                "detail": "",
            }
        ]
    )
    html = _page(console_member, trial.pk).content.decode()
    assert "Gaps in the readings" in html
    assert '<th scope="row" data-label="Why">The connection to the source was lost</th>' in html
    assert '<td data-label="From">09:30:00</td>' in html  # hub time (Asia/Shanghai)
    assert '<td data-label="Duration" class="num">2 min</td>' in html


def test_while_checked_in_the_live_panel_polls_the_consoles_own_url(
    console_member, running, equipment
):
    Observation.objects.create(
        equipment=equipment,
        ts=running.start + timedelta(minutes=5),
        metric="spindle_load",
        value=61.5,
        unit="%",
    )
    html = _page(console_member, running.pk).content.decode()
    panel = reverse("console:trial_live", args=[running.pk])
    assert f'hx-get="{panel}" hx-trigger="every 5s" hx-swap="outerHTML"' in html
    assert f'"{reverse("trials:live", args=[running.pk])}"' not in html  # the SME's panel
    assert '<td data-label="Latest value" class="num">61.500</td>' in html
    part = console_member.get(panel, HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<section id="live"') and "<html" not in part
    assert f'hx-get="{panel}"' in part and "61.500" in part


def test_the_live_panel_stops_polling_after_the_booking(console_member, running):
    Booking.objects.filter(pk=running.pk).update(status=S.COMPLETED, completed_at=timezone.now())
    part = console_member.get(reverse("console:trial_live", args=[running.pk])).content
    assert b"hx-trigger" not in part
    assert b"The booking is no longer checked in" in part


def test_csv_has_every_reading_in_hub_time(console_member, completed):
    trial = collected_trial(completed, metrics=("spindle_load",), readings=4)
    response = console_member.get(reverse("console:trial_csv", args=[trial.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="trial-{trial.pk}.csv"'
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["timestamp", "metric", "value", "unit"]
    assert len(rows) == 5
    assert all(row[0].endswith("+08:00") and row[1] == "spindle_load" for row in rows[1:])


def test_the_booking_page_links_to_its_trial(console_member, completed, equipment, sme):
    trial = collected_trial(completed, readings=3)
    link = reverse("console:trial", args=[trial.pk])
    html = console_member.get(reverse("console:booking", args=[completed.pk])).content.decode()
    assert f'href="{link}"' in html
    requested = make_booking(equipment, sme, local(2, 9), local(2, 10), status=S.REQUESTED)
    html = console_member.get(reverse("console:booking", args=[requested.pk])).content.decode()
    assert reverse("console:trial", args=[requested.pk]) not in html  # no trial yet


def test_the_page_is_in_chinese_for_a_chinese_reader(console_member, completed):
    trial = collected_trial(completed, readings=3)
    console_member.cookies["django_language"] = "zh-hans"
    html = _page(console_member, trial.pk).content.decode()
    assert '<html lang="zh-hans"' in html
    assert '<h2 id="summary-h">汇总</h2>' in html  # "Summary", as the SME's trial page says
