"""Operations reports (issue #7): utilization checked against hand-computed fixtures, its
CSV form, the operators' API and the admin console page. Billing reads statement lines
since issue #16: tests/billing/statements.

Utilization week (Asia/Shanghai), period Mon 2026-11-02 09:00 → Fri 2026-11-06 12:00:
the Yizhuang hub opens Mon–Fri 08:00–18:00, so it is open 9 + 10 + 10 + 10 + 4 = 43 h
in the period; CNC-1 has maintenance Wed 12:00–20:00 (6 h of it in opening hours) → 37 h.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from bookings.models import Booking
from bookings.reports import selectors as reports
from equipment.hours import ALWAYS_OPEN
from equipment.models import Equipment, Hub, MaintenanceWindow
from organizations.models import Organization
from tests.factories import BookingEventFactory, BookingFactory, HubFactory
from tests.fixtures.world import SHANGHAI, key_client, make_equipment, make_org

S = Booking.Status
WEEKDAYS_8_TO_18 = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
PERIOD = (datetime(2026, 11, 2, 9, tzinfo=SHANGHAI), datetime(2026, 11, 6, 12, tzinfo=SHANGHAI))
NOVEMBER = date(2026, 11, 1)
BERLIN = ZoneInfo("Europe/Berlin")


def t(text: str, tz=SHANGHAI) -> datetime:
    """'2026-11-02 09:00' in Shanghai (or ``tz``)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def book(equipment, org, start: str, end: str, status: str, price: str | None = None,
         tz=SHANGHAI) -> Booking:
    """A past booking written directly (the services refuse past times)."""
    extra = {} if price is None else {"price": Decimal(price)}  # default: the quote
    return BookingFactory(equipment=equipment, organization=org, start=t(start, tz),
                          end=t(end, tz), status=status, purpose="report fixture", **extra)


def cancelled(equipment, org, start: str, end: str, *, at: str, by, price: str) -> Booking:
    booking = book(equipment, org, start, end, S.CANCELLED, price)
    BookingEventFactory(booking=booking, from_status=S.CONFIRMED, actor_organization=by,
                        at=t(at))
    return booking


def make_hub(operator, slug: str, hours=ALWAYS_OPEN, tz: str = "Asia/Shanghai") -> Hub:
    return HubFactory(operator=operator, name=slug.title(), slug=slug, timezone=tz,
                      opening_hours=hours)


@pytest.fixture
def yizhuang(operator):
    return make_hub(operator, "yizhuang", WEEKDAYS_8_TO_18)


@pytest.fixture
def fleet(yizhuang, operator, other_operator, category):
    return {
        "cnc1": make_equipment(yizhuang, category, "cnc-1"),
        "cnc2": make_equipment(yizhuang, category, "cnc-2"),
        "cnc3": make_equipment(yizhuang, category, "cnc-3"),  # never booked
        "lathe": make_equipment(yizhuang, category, "lathe", status=Equipment.Status.RETIRED),
        "robot": make_equipment(make_hub(operator, "shunyi"), category, "robot-1"),
        "foreign": make_equipment(make_hub(other_operator, "shenzhen"), category, "phone-line"),
    }


@pytest.fixture
def week(fleet, sme, other_sme):
    cnc1, cnc2, robot, foreign = (fleet[k] for k in ("cnc1", "cnc2", "robot", "foreign"))
    MaintenanceWindow.objects.create(equipment=cnc1, start=t("2026-11-04 12:00"),
                                     end=t("2026-11-04 20:00"), reason="spindle")
    MaintenanceWindow.objects.create(equipment=cnc1, start=t("2026-11-10 08:00"),
                                     end=t("2026-11-10 18:00"), reason="after the period")
    book(cnc1, sme, "2026-11-02 08:00", "2026-11-02 10:00", S.COMPLETED)  # 1 h in; starts before
    book(cnc1, sme, "2026-11-02 13:00", "2026-11-02 17:00", S.COMPLETED)  # 4 h
    book(cnc1, other_sme, "2026-11-03 10:00", "2026-11-03 12:00", S.NO_SHOW)  # 2 h
    book(cnc1, sme, "2026-11-05 08:00", "2026-11-05 10:00", S.CONFIRMED)  # 2 h
    book(cnc1, sme, "2026-11-05 14:00", "2026-11-05 15:30", S.CHECKED_IN)  # 1.5 h
    book(cnc1, sme, "2026-11-06 10:00", "2026-11-06 14:00", S.COMPLETED)  # 2 h in
    book(cnc1, sme, "2026-11-04 08:00", "2026-11-04 11:00", S.CANCELLED)
    book(cnc1, sme, "2026-11-03 14:00", "2026-11-03 16:00", S.REJECTED)
    book(cnc1, sme, "2026-11-05 16:00", "2026-11-05 17:00", S.REQUESTED)
    book(cnc1, sme, "2026-11-09 08:00", "2026-11-09 10:00", S.COMPLETED)  # after the period
    book(cnc2, sme, "2026-11-04 09:00", "2026-11-04 11:00", S.NO_SHOW)  # 2 h
    book(robot, sme, "2026-11-05 20:00", "2026-11-06 02:00", S.COMPLETED)  # 6 h, at night
    book(foreign, sme, "2026-11-03 09:00", "2026-11-03 17:00", S.COMPLETED)  # not ours: 3200
    return fleet


figures = attrgetter("open_hours", "booked_hours", "utilization", "completed", "no_shows",
                     "no_show_rate")


def test_utilization_per_equipment_matches_hand_computed_figures(week, operator):
    rows = reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1])
    got = {row.equipment: figures(row) for row in rows}
    D = Decimal
    assert got == {
        # 4 days 3 h, always open; 6 h booked = 6/99.
        "ROBOT-1": (D("99.00"), D("6.00"), D("0.0606"), 1, 0, D("0.0000")),
        # 1 + 4 + 2 + 2 + 1.5 + 2 = 12.5 h of 37; 1 no-show of 3 starting in the period.
        "CNC-1": (D("37.00"), D("12.50"), D("0.3378"), 2, 1, D("0.3333")),
        "CNC-2": (D("43.00"), D("2.00"), D("0.0465"), 0, 1, D("1.0000")),
        "CNC-3": (D("43.00"), D("0.00"), D("0.0000"), 0, 0, None),
    }
    assert [row.hub for row in rows] == ["shunyi", "yizhuang", "yizhuang", "yizhuang"]


def test_utilization_per_hub_rolls_up_hours_and_counts(week, operator):
    hubs = reports.by_hub(reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1]))
    got = {h.hub: (*figures(h), h.equipment_count) for h in hubs}
    assert got["yizhuang"] == (Decimal("123.00"), Decimal("14.50"), Decimal("0.1179"), 2, 2,
                               Decimal("0.5000"), 3)
    assert got["shunyi"][:3] == (Decimal("99.00"), Decimal("6.00"), Decimal("0.0606"))


def test_utilization_of_one_hub_and_scoping(week, operator, other_operator, yizhuang, sme):
    rows = reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1], hub=yizhuang)
    assert [r.equipment for r in rows] == ["CNC-1", "CNC-2", "CNC-3"]
    theirs = reports.utilization(operator=other_operator, start=PERIOD[0], end=PERIOD[1])
    assert [(r.equipment, r.booked_hours) for r in theirs] == [("PHONE-LINE", Decimal("8.00"))]
    # Their hub's filter never reaches our equipment, and SMEs operate nothing.
    assert reports.utilization(operator=other_operator, start=PERIOD[0], end=PERIOD[1],
                               hub=yizhuang) == []
    assert reports.utilization(operator=sme, start=PERIOD[0], end=PERIOD[1]) == []
    everyone = reports.utilization(operator=reports.ALL_HUBS, start=PERIOD[0], end=PERIOD[1])
    assert len(everyone) == 5


def test_utilization_costs_three_queries_however_much_equipment(
        week, operator, yizhuang, category, django_assert_num_queries):
    for n in range(5):
        make_equipment(yizhuang, category, f"extra-{n}")
    with django_assert_num_queries(3):  # equipment, maintenance, one booking aggregate
        rows = reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1])
    assert len(rows) == 9


@pytest.fixture
def november(fleet, category, operator, sme, other_sme):
    cnc1, cnc2, foreign = fleet["cnc1"], fleet["cnc2"], fleet["foreign"]
    robot = make_equipment(make_hub(operator, "berlin", tz="Europe/Berlin"), category, "robot-b",
                           hourly_rate=Decimal("250.00"))
    book(cnc1, sme, "2026-11-02 09:00", "2026-11-02 13:00", S.COMPLETED, "1600.00")
    book(cnc1, sme, "2026-11-03 10:00", "2026-11-03 12:00", S.NO_SHOW, "800.00")
    # SME cancels 21 h before: half of 1000.25 = 500.125 → 500.13.
    cancelled(cnc1, sme, "2026-11-20 09:00", "2026-11-20 11:30", at="2026-11-19 12:00",
              by=sme, price="1000.25")
    cancelled(cnc1, sme, "2026-11-21 09:00", "2026-11-21 11:00", at="2026-11-18 09:00",
              by=sme, price="800.00")  # three days ahead: free
    cancelled(cnc1, sme, "2026-11-26 09:00", "2026-11-26 11:00", at="2026-11-25 09:00",
              by=sme, price="800.00")  # exactly 24 h ahead: not late
    cancelled(cnc1, sme, "2026-11-24 09:00", "2026-11-24 11:00", at="2026-11-24 06:00",
              by=operator, price="800.00")  # the operator cancelled: free
    cancelled(cnc1, sme, "2026-11-27 09:00", "2026-11-27 11:00", at="2026-11-27 08:59",
              by=None, price="800.00")  # the system expired the request: free
    book(cnc1, sme, "2026-11-25 09:00", "2026-11-25 11:00", S.REJECTED, "800.00")
    book(cnc1, sme, "2026-11-30 09:00", "2026-11-30 11:00", S.CONFIRMED, "800.00")  # open
    book(cnc1, sme, "2026-10-31 22:00", "2026-10-31 23:30", S.COMPLETED, "600.00")  # October
    book(cnc1, sme, "2026-12-01 00:30", "2026-12-01 01:30", S.COMPLETED, "400.00")  # December
    # 00:30 Shanghai on the 1st is still October in UTC: the hub's month counts.
    book(cnc2, sme, "2026-11-01 00:30", "2026-11-01 02:30", S.COMPLETED, "800.00")
    # 20:00 in Berlin on the 30th is December 1st in Shanghai: Berlin's month counts.
    book(robot, sme, "2026-11-30 20:00", "2026-11-30 22:00", S.COMPLETED, "500.00", tz=BERLIN)
    book(foreign, sme, "2026-11-10 09:00", "2026-11-10 11:00", S.COMPLETED, "999.00")
    book(cnc2, other_sme, "2026-11-12 14:00", "2026-11-12 15:00", S.COMPLETED, "400.00")
    # 333.33 / 2 = 166.665 → 166.67 (half up).
    cancelled(cnc2, other_sme, "2026-11-13 09:00", "2026-11-13 10:00", at="2026-11-13 08:00",
              by=other_sme, price="333.33")


def test_utilization_csv_parses_and_matches_the_figures(week, operator):
    rows = reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1])
    text = reports.utilization_csv(rows)
    assert text.startswith("\ufeff")  # a byte order mark: Excel reads it as UTF-8
    parsed = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert list(parsed[0]) == reports.UTILIZATION_COLUMNS
    cnc1 = next(r for r in parsed if r["equipment"] == "CNC-1")
    assert (cnc1["open_hours"], cnc1["booked_hours"], cnc1["utilization"],
            cnc1["no_show_rate"]) == ("37.00", "12.50", "0.3378", "0.3333")
    assert next(r for r in parsed if r["equipment"] == "CNC-3")["no_show_rate"] == ""


def test_csv_never_writes_a_formula(yizhuang, category, operator):
    equipment = make_equipment(yizhuang, category, "x")
    equipment.name = "=HYPERLINK(1)"
    equipment.save()
    rows = reports.utilization(operator=operator, start=PERIOD[0], end=PERIOD[1])
    assert "'=HYPERLINK(1)" in reports.utilization_csv(rows)


# --- API ------------------------------------------------------------------------------

UTILIZATION_URL = "/api/v1/reports/utilization/"
BILLING_URL = "/api/v1/reports/billing/"
PERIOD_QUERY = {"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()}


def test_api_utilization_for_the_operator(week, operator):
    r = key_client(operator).get(UTILIZATION_URL, PERIOD_QUERY)
    assert r.status_code == 200, r.content
    body = r.json()
    cnc1 = next(e for e in body["equipment"] if e["equipment_name"] == "CNC-1")
    assert cnc1 == {"equipment": week["cnc1"].pk, "equipment_name": "CNC-1", "hub": "yizhuang",
                    "open_hours": "37.00", "booked_hours": "12.50", "actual_hours": None,
                    "utilization": "0.3378",
                    "completed": 2, "no_shows": 1, "no_show_rate": "0.3333"}
    yz = next(h for h in body["hubs"] if h["hub"] == "yizhuang")
    assert (yz["open_hours"], yz["booked_hours"], yz["utilization"], yz["no_show_rate"]) == (
        "123.00", "14.50", "0.1179", "0.5000")
    one_hub = key_client(operator).get(UTILIZATION_URL, {**PERIOD_QUERY, "hub": "yizhuang"})
    assert [e["equipment_name"] for e in one_hub.json()["equipment"]] == [
        "CNC-1", "CNC-2", "CNC-3"]


def test_api_utilization_as_csv(week, operator):
    r = key_client(operator).get(UTILIZATION_URL, {**PERIOD_QUERY, "format": "csv"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    parsed = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [(p["equipment"], p["utilization"]) for p in parsed] == [
        ("ROBOT-1", "0.0606"), ("CNC-1", "0.3378"), ("CNC-2", "0.0465"), ("CNC-3", "0.0000")]


@pytest.mark.parametrize("kind", [Organization.Kind.SME, Organization.Kind.UNIVERSITY])
@pytest.mark.parametrize("url", [UTILIZATION_URL, BILLING_URL])
def test_api_reports_are_for_operators_only(db, kind, url):
    client = key_client(make_org(f"not-an-operator-{kind}", kind))
    r = client.get(url, {**PERIOD_QUERY, "month": "2026-11"})
    assert r.status_code == 403
    assert r.json()["code"] == "wrong_organization_kind"


def test_api_reports_need_a_key(client):
    assert client.get(UTILIZATION_URL, PERIOD_QUERY).status_code == 401
    assert client.get(BILLING_URL, {"month": "2026-11"}).status_code == 401


@pytest.mark.parametrize(("query", "field"), [
    ({}, "start"),
    ({"start": "2026-11-02T09:00:00", "end": "2026-11-06T12:00:00+08:00"}, "start"),
    ({"start": "yesterday", "end": "2026-11-06T12:00:00+08:00"}, "start"),
    ({"start": "2026-11-06T12:00:00+08:00", "end": "2026-11-02T09:00:00+08:00"}, "end"),
    ({"start": "2025-11-02T00:00:00+08:00", "end": "2026-11-06T00:00:00+08:00"}, "end"),
])
def test_api_utilization_rejects_bad_periods(operator, query, field):
    r = key_client(operator).get(UTILIZATION_URL, query)
    assert r.status_code == 400
    assert r["Content-Type"].startswith("application/problem+json")
    assert field in r.json()["errors"]


@pytest.mark.parametrize("month", ["", "2026-13", "2026-1", "November", "2026-11-01"])
def test_api_billing_rejects_bad_months(operator, month):
    r = key_client(operator).get(BILLING_URL, {"month": month} if month else {})
    assert r.status_code == 400
    assert "month" in r.json()["errors"]


def test_api_other_operator_sees_none_of_yours(week, november, other_operator):
    client = key_client(other_operator)
    r = client.get(UTILIZATION_URL, PERIOD_QUERY)
    assert [e["equipment_name"] for e in r.json()["equipment"]] == ["PHONE-LINE"]
    assert client.get(UTILIZATION_URL, {**PERIOD_QUERY, "hub": "yizhuang"}).status_code == 404


# --- admin console --------------------------------------------------------------------

REPORTS_URL = "admin:bookings_booking_reports"


@time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=SHANGHAI), tick=False)
def test_admin_report_page_shows_this_month_with_charts(admin_client, november):
    r = admin_client.get(reverse(REPORTS_URL))
    assert r.status_code == 200
    page = r.content.decode()
    charts = page.split('<div class="report-chart">')[1:]
    assert len(charts) == 1 and charts[0].startswith("<svg")
    assert "kozea.github.io" not in page and "window.pygal" not in page  # no scripts, no CDN
    assert "CNC-1" in page and "PHONE-LINE" in page  # staff see every operator
    # Billing is the statements' admin page, for the same month.
    assert reverse("admin:billing_statement_billing") + "?month=2026-11" in page


def test_admin_report_for_one_operator_and_csv_export(admin_client, week, november):
    query = {"operator": "phonetech", "start": "2026-11-02", "end": "2026-11-05",
             "month": "2026-11"}
    page = admin_client.get(reverse(REPORTS_URL), query).content.decode()
    assert "PHONE-LINE" in page and "CNC-1" not in page
    r = admin_client.get(reverse(REPORTS_URL), {**query, "operator": "", "export": "utilization"})
    parsed = {row["equipment"]: row for row in csv.DictReader(io.StringIO(r.content.decode()))}
    # Mon 00:00 → Fri 00:00 in Shanghai: CNC-1 open 4 × 10 h − 6 h maintenance.
    assert parsed["CNC-1"]["open_hours"] == "34.00"


def test_admin_report_shows_form_errors(admin_client, db):
    r = admin_client.get(reverse(REPORTS_URL), {"start": "2026-11-05", "end": "2026-11-01",
                                                "month": "2026-11"})
    page = r.content.decode()
    assert r.status_code == 200 and "The end must be after the start." in page
    assert '<div class="report-chart">' not in page


def test_admin_reports_are_linked_from_the_changelist_for_staff_only(admin_client, client,
                                                                    django_user_model):
    page = admin_client.get(reverse("admin:bookings_booking_changelist")).content.decode()
    assert reverse(REPORTS_URL) in page
    client.force_login(django_user_model.objects.create_user("plain", password="pw-12345678"))
    r = client.get(reverse(REPORTS_URL))
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_chart_labels_are_escaped():
    from billing.statements.report import SmeBilling
    from console.setup.reports import billing_chart

    bill = SmeBilling(organization="x", organization_name="<b>Bold & Co</b>", lines=[])
    svg = billing_chart([bill])
    assert svg.startswith("<svg") and "<script" not in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg
