"""Times in the hub's offset wherever the API or a file gives one; CSV downloads that Excel
opens as UTF-8 (a byte order mark); one date format per language on the pages."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import formats, translation

from bookings import services
from core import csv as core_csv
from tests.factories import HubFactory
from tests.fixtures.world import (
    booking_body,
    collected_trial,
    key_client,
    local,
    make_booking,
    make_equipment,
)

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_409_gives_the_conflicting_slot_in_the_hubs_offset(sme_client, equipment, other_sme):
    services.create_booking(
        equipment_id=equipment.pk,
        organization=other_sme,
        start=local(2, 9),
        end=local(2, 11),
        purpose="x",
    )
    r = sme_client.post(
        "/api/v1/bookings/", booking_body(equipment, local(2, 10), local(2, 12)), format="json"
    )
    assert r.status_code == 409, r.content
    [conflict] = r.json()["conflicts"]
    assert conflict["start"] == local(2, 9).isoformat()
    assert conflict["end"] == local(2, 11).isoformat()
    assert conflict["blocked_until"] == local(2, 11).isoformat()
    assert all(conflict[key].endswith("+08:00") for key in ("start", "end", "blocked_until"))


def test_a_409_on_a_hub_elsewhere_uses_that_hubs_offset(sme, operator, category, other_sme):
    hub = HubFactory(operator=operator, slug="berlin", timezone="Europe/Berlin")
    machine = make_equipment(hub, category, "berlin-cnc")
    start = local(3, 0).astimezone(BERLIN).replace(hour=9, minute=0)
    end = start.replace(hour=11)
    services.create_booking(
        equipment_id=machine.pk, organization=other_sme, start=start, end=end, purpose="x"
    )
    r = key_client(sme).post("/api/v1/bookings/", booking_body(machine, start, end), format="json")
    assert r.status_code == 409, r.content
    [conflict] = r.json()["conflicts"]
    assert conflict["start"] == start.isoformat()  # +01:00 in winter, +02:00 in summer
    assert conflict["start"][-6:] in ("+01:00", "+02:00")


def test_core_csv_downloads_start_with_a_bom_and_round_trip_chinese():
    body = core_csv.text(["设备", "单位"], [["五轴加工中心", "mm"], ["=cmd", -1.5]])
    assert body.startswith("\ufeff")
    raw = body.encode("utf-8")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [["设备", "单位"], ["五轴加工中心", "mm"], ["'=cmd", "-1.5"]]
    streamed = "".join(core_csv.stream(["a"], [["b"]]))
    assert streamed.startswith("\ufeffa")
    assert streamed.count("\ufeff") == 1


def test_csv_inside_data_packages_has_no_bom():
    out = io.StringIO()
    core_csv.writer(out).writerow(["设备"])
    assert not out.getvalue().startswith("\ufeff")


def test_the_csv_response_helper():
    response = core_csv.response(["设备"], [["五轴"]], "x.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert b"".join(response.streaming_content).decode("utf-8-sig") == "设备\r\n五轴\r\n"


def test_measurements_csv_has_a_bom_and_the_hubs_offset(equipment, sme, sme_client):
    booking = make_booking(equipment, sme, local(-2, 9), local(-2, 11), status="completed")
    trial = collected_trial(booking, readings=3)
    r = sme_client.get(f"/api/v1/trials/{trial.pk}/measurements/?format=csv")
    assert r.status_code == 200
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(r.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows and list(rows[0]) == ["timestamp", "metric", "value", "unit"]
    assert all(row["timestamp"].endswith("+08:00") for row in rows)


def test_the_trial_summary_gives_its_times_in_the_hubs_offset(equipment, sme, sme_client):
    booking = make_booking(equipment, sme, local(-2, 9), local(-2, 11), status="completed")
    trial = collected_trial(booking, readings=3)
    body = sme_client.get(f"/api/v1/trials/{trial.pk}/").json()
    assert body["summary"]
    for figures in body["summary"].values():
        assert figures["first"].endswith("+08:00") and figures["last"].endswith("+08:00")
    assert body["start"] == local(-2, 9).isoformat()


def test_report_csvs_have_a_bom(operator_client, equipment):
    start, end = local(-7, 0), local(0, 0)
    r = operator_client.get(
        "/api/v1/reports/utilization/",
        {"start": start.isoformat(), "end": end.isoformat(), "format": "csv"},
    )
    assert r.status_code == 200, r.content
    assert r.content.startswith(b"\xef\xbb\xbf")
    r = operator_client.get("/api/v1/reports/billing/", {"month": "2026-11", "format": "csv"})
    assert r.status_code == 200, r.content
    assert r.content.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("language", "date", "datetime_", "month_day"),
    [
        ("en", "1 Dec 2026", "1 Dec 2026, 14:30", "1 Dec"),
        ("zh-hans", "2026年12月1日", "2026年12月1日 14:30", "12月1日"),
    ],
)
def test_one_date_format_per_language(language, date, datetime_, month_day):
    moment = datetime(2026, 12, 1, 14, 30)
    with translation.override(language):
        assert formats.date_format(moment, "DATE_FORMAT") == date
        assert formats.date_format(moment, "SHORT_DATE_FORMAT") == date
        assert formats.date_format(moment, "DATETIME_FORMAT") == datetime_
        assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == datetime_
        assert formats.date_format(moment, "MONTH_DAY_FORMAT") == month_day
        assert formats.time_format(moment, "TIME_FORMAT") == "14:30"


def test_no_template_writes_a_us_date():
    root = Path(__file__).resolve().parents[2] / "templates"
    us = re.compile(r"""\|date:["'][^"']*(m/d|n/j|m/j|n/d)""")
    offenders = [str(p) for p in root.rglob("*.html") if us.search(p.read_text())]
    assert offenders == []
