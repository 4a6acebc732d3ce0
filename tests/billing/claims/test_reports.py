"""Voucher use per programme, SME and hub: the figures, who sees which, and their cost."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from billing.claims import reports, services
from billing.models import SettlementClaim
from organizations.models import Organization
from pricing.models import Quote
from tests.billing.conftest import NOVEMBER, SHANGHAI, at, priced
from tests.factories import HubFactory
from tests.fixtures.world import make_equipment, make_org

from .conftest import grant_for, programme_for

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 1, tzinfo=SHANGHAI)
END = datetime(2026, 12, 1, tzinfo=SHANGHAI)


@pytest.fixture
def world(operator, other_operator, programme, grant, other_grant, equipment,
          second_equipment, sme, other_sme, category, staff_user):
    """At AutoWorks: Precision Parts 400 + 100 (the first claimed and paid), Green Motor
    250.50 on the robot cell; a released booking and one in October that do not count.
    At PhoneTech: Precision Parts 300 under the same programme."""
    paid = priced(equipment, sme, at(10), grant=grant, voucher="400.00")
    priced(equipment, sme, at(12), grant=grant, voucher="100.00", status="confirmed")
    priced(second_equipment, other_sme, at(20), grant=other_grant, voucher="250.50")
    priced(equipment, sme, at(14), grant=grant, voucher="50.00", status="cancelled",
           quote_status=Quote.Status.RELEASED)
    priced(equipment, sme, at(20, month=10), grant=grant, voucher="70.00")
    their_hub = HubFactory(operator=other_operator, slug="shunyi", name="Shunyi Hub",
                           timezone="Asia/Shanghai")
    programme.providers.add(their_hub)
    priced(make_equipment(their_hub, category, "their-cnc"), sme, at(11), grant=grant,
           voucher="300.00")
    claim, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER)
    services.submit_claim(claim_id=claim.pk, provider=operator)
    services.approve_claim(claim_id=claim.pk, by_user=staff_user)
    services.mark_claim_paid(claim_id=claim.pk, payment_reference="P-1", by_user=staff_user)
    assert paid.pk in {line.booking_id for line in claim.lines.all()}
    return claim


def by_key(rows):
    return {row.key: row for row in rows}


def test_the_operators_figures(operator, grant, other_grant, world):
    report = reports.voucher_use(actor=operator, start=START, end=END)
    [programme] = report.programmes
    assert programme.used == Decimal("750.50")  # 400 + 100 + 250.50 at its hubs
    assert programme.bookings == 3
    assert programme.claimed == programme.paid == Decimal("650.50")  # completed ones
    # The grants used at its hubs: 10,000 + 5,000, less what they used anywhere.
    assert programme.granted == Decimal("15000.00")
    assert programme.remaining == Decimal("15000.00") - grant.used - other_grant.used
    smes = by_key(report.smes)
    assert (smes["precision"].used, smes["precision"].bookings) == (Decimal("500.00"), 2)
    assert (smes["greenmotor"].used, smes["greenmotor"].claimed) == (Decimal("250.50"),
                                                                     Decimal("250.50"))
    assert set(by_key(report.hubs)) == {"yizhuang"}
    assert by_key(report.hubs)["yizhuang"].granted is None
    # The rows of a programme add up to it.
    assert sum(r.used for r in report.smes) == sum(r.used for r in report.hubs) == \
        programme.used


def test_the_smes_own_use_everywhere(sme, grant, world):
    report = reports.voucher_use(actor=sme, start=START, end=END)
    [programme] = report.programmes
    assert programme.used == Decimal("800.00")  # 400 + 100 here, 300 at PhoneTech
    assert programme.granted == Decimal("10000.00")
    grant.refresh_from_db()
    assert programme.remaining == grant.amount - grant.used
    assert set(by_key(report.hubs)) == {"yizhuang", "shunyi"}
    assert [row.key for row in report.smes] == ["precision"]


def test_staff_see_all_and_others_nothing(world, other_operator, db):
    everything = reports.voucher_use(actor=reports.ALL, start=START, end=END)
    assert everything.programmes[0].used == Decimal("1050.50")
    theirs = reports.voucher_use(actor=other_operator, start=START, end=END)
    assert theirs.programmes[0].used == Decimal("300.00")
    assert theirs.programmes[0].claimed == Decimal("0.00")
    university = make_org("tsinghua", Organization.Kind.UNIVERSITY)
    assert reports.voucher_use(actor=university, start=START, end=END).rows == []
    assert reports.voucher_use(actor=None, start=START, end=END).rows == []


def test_a_rejected_claim_is_not_counted_as_claimed(operator, programme, completed,
                                                    staff_user):
    claim, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER)
    services.submit_claim(claim_id=claim.pk, provider=operator)
    report = reports.voucher_use(actor=operator, start=START, end=END)
    assert (report.programmes[0].claimed, report.programmes[0].paid) == (Decimal("400.00"),
                                                                       Decimal("0.00"))
    services.reject_claim(claim_id=claim.pk, reason="No.", by_user=staff_user)
    assert SettlementClaim.objects.get().status == "rejected"
    report = reports.voucher_use(actor=operator, start=START, end=END)
    assert report.programmes[0].claimed == Decimal("0.00")


def test_the_report_costs_three_queries_whatever_the_rows(operator, world, equipment, sme,
                                                          grant):
    with CaptureQueriesContext(connection) as few:
        reports.voucher_use(actor=operator, start=START, end=END)
    for day in (3, 4, 5):
        priced(equipment, sme, at(day), grant=grant, voucher="10.00")
    other = programme_for(equipment.hub, reference="SH-2026")
    priced(equipment, sme, at(6), grant=grant_for(other, sme), voucher="10.00")
    with CaptureQueriesContext(connection) as many:
        report = reports.voucher_use(actor=operator, start=START, end=END)
    assert len(many) == len(few) == 3
    assert len(report.programmes) == 2


def test_the_csv(operator, world):
    text = reports.voucher_use_csv(reports.voucher_use(actor=operator, start=START, end=END))
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == ",".join(reports.CSV_HEADER)
    assert lines[1].startswith("programme,BJ-CXQ-2026,")
    assert any(line.startswith("hub,BJ-CXQ-2026,Beijing innovation voucher 2026,yizhuang,")
               for line in lines)


# --- reserved, names in the reader's language, the CSV's money ------------------------------

YEAR_START = datetime(2026, 1, 1, tzinfo=SHANGHAI)


def test_granted_is_used_plus_reserved_plus_remaining(operator, programme, grant, equipment,
                                                      sme):
    """The default period ends today: bookings after it hold part of the grant (reserved),
    so granted − used is not what remains; granted = used + reserved + remaining."""
    priced(equipment, sme, at(10), grant=grant, voucher="400.00")
    priced(equipment, sme, at(20), grant=grant, voucher="100.00", status="confirmed")
    priced(equipment, sme, at(10, month=12), grant=grant, voucher="60.00", status="confirmed")
    priced(equipment, sme, at(11, month=12), grant=grant, voucher="40.00",
           status="requested")
    today_end = datetime(2026, 11, 26, tzinfo=SHANGHAI)  # "up to 25 November"
    now = datetime(2026, 11, 25, 15, tzinfo=SHANGHAI)
    report = reports.voucher_use(actor=operator, start=YEAR_START, end=today_end, now=now)
    [row] = report.programmes
    assert (row.used, row.reserved) == (Decimal("500.00"), Decimal("100.00"))
    assert row.granted == row.used + row.reserved + row.remaining == Decimal("10000.00")
    [sme_row] = report.smes
    assert sme_row.granted == sme_row.used + sme_row.reserved + sme_row.remaining
    [hub_row] = report.hubs
    assert (hub_row.used, hub_row.reserved, hub_row.bookings) == (Decimal("500.00"),
                                                                 Decimal("100.00"), 2)
    # A past period: what is booked after it but already done is neither used nor reserved.
    october = reports.voucher_use(actor=operator, start=YEAR_START,
                                  end=datetime(2026, 11, 1, tzinfo=SHANGHAI), now=now)
    assert (october.programmes[0].used, october.programmes[0].reserved) == (
        Decimal("0.00"), Decimal("100.00"))


def test_names_are_in_the_readers_language(operator, programme, grant, hub, equipment, sme):
    programme.name_zh_hans = "北京市首都科技创新券2026"
    programme.save()
    hub.name_zh_hans = "亦庄基地"
    hub.save()
    priced(equipment, sme, at(10), grant=grant, voucher="400.00")
    with translation.override("zh-hans"):
        report = reports.voucher_use(actor=operator, start=START, end=END)
    assert {r.programme_name for r in report.rows} == {"北京市首都科技创新券2026"}
    assert report.hubs[0].name == "亦庄基地"
    with translation.override("en"):
        report = reports.voucher_use(actor=operator, start=START, end=END)
    assert report.programmes[0].programme_name == "Beijing innovation voucher 2026"
    assert report.hubs[0].name == hub.name_en


def test_the_csv_money_has_two_decimals(operator, programme, sme, equipment):
    grant = grant_for(programme, sme, reference_number="R-1", amount=Decimal("200000"))
    priced(equipment, sme, at(10), grant=grant, voucher="400")
    text = reports.voucher_use_csv(reports.voucher_use(actor=operator, start=START, end=END))
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    programme_row = rows[0]
    assert programme_row["level"] == "programme"
    assert programme_row["granted"] == "200000.00"
    assert programme_row["used"] == "400.00" and programme_row["reserved"] == "0.00"
    assert programme_row["remaining"] == "199600.00"
    assert programme_row["claimed"] == programme_row["paid"] == "0.00"
    hub_row = rows[-1]
    assert hub_row["level"] == "hub" and hub_row["granted"] == hub_row["remaining"] == ""
