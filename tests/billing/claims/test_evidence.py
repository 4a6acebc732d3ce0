"""The claim's evidence ZIP holds every evidence file for every line: the summary PDF (its
text read back with pdftotext, in both languages), CSV, JSON, and per booking its record
and history, quotes, statement lines, usage and results summary; the manifest's SHA-256s
match the files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from billing.claims import evidence, services
from bookings.models import Booking
from pricing.models import Quote
from tests.billing.conftest import NOVEMBER, at, priced
from tests.factories import BookingEventFactory, QuoteFactory, QuoteLineFactory, quote_totals
from tests.fixtures.world import collected_trial
from tests.pdfutil import pdftotext, require_cjk_font

from .conftest import stated

pytestmark = pytest.mark.django_db
PER_BOOKING = ("booking.json", "quote.json", "statement_lines.json", "usage.json",
               "results_summary.json")


@pytest.fixture
def claim(operator, programme, grant, other_grant, equipment, second_equipment, sme,
          other_sme, completed):
    # The first booking: from an accepted estimate, stated, its trial collected, with usage
    # evidence and a history.
    estimate = QuoteFactory(kind=Quote.Kind.ESTIMATE, status=Quote.Status.ACCEPTED,
                            hub=completed.equipment.hub, organization=sme,
                            start=completed.start, end=completed.end)
    QuoteLineFactory(quote=estimate, position=1, equipment=completed.equipment,
                     quantity=Decimal("2"), unit_price=Decimal("400.00"),
                     amount=Decimal("800.00"))
    quote_totals(estimate)
    Quote.objects.filter(pk=completed.quote_id).update(origin=estimate)
    Booking.objects.filter(pk=completed.pk).update(
        actual_start=completed.start + timedelta(minutes=5),
        actual_end=completed.end - timedelta(minutes=10), actual_seconds=6300)
    BookingEventFactory(booking=completed, code="booking.completed", from_status="checked_in",
                        to_status="completed", at=completed.end, reason="Done on time")
    stated(completed)
    collected_trial(completed, readings=12)
    # The second: another firm's, neither stated nor collected.
    priced(second_equipment, other_sme, at(21, 14), grant=other_grant, voucher="250.50")
    made, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                   month=NOVEMBER)
    return made


def opened(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_every_evidence_file_for_every_line(claim):
    bundle = opened(evidence.claim_bundle(claim, language="en"))
    booking_ids = [line.booking_id for line in claim.lines.all()]
    assert len(booking_ids) == 2
    expected = {"summary.pdf", "claim.csv", "claim.json", "manifest.json"} | {
        f"bookings/{pk}/{name}" for pk in booking_ids for name in PER_BOOKING}
    assert set(bundle.namelist()) == expected
    assert bundle.testzip() is None


def test_the_manifest_lists_every_other_file_with_its_sha256(claim):
    bundle = opened(evidence.claim_bundle(claim, language="en"))
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["claim"] == claim.pk
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) == set(bundle.namelist()) - {"manifest.json"}
    for name, entry in listed.items():
        data = bundle.read(name)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["size"] == len(data)


def test_the_booking_files_carry_the_evidence(claim, completed, grant):
    bundle = opened(evidence.claim_bundle(claim, language="en"))
    folder = f"bookings/{completed.pk}/"
    booking = json.loads(bundle.read(folder + "booking.json"))
    assert booking["id"] == completed.pk and booking["status"] == "completed"
    assert booking["organization"]["slug"] == "precision"
    assert booking["equipment"]["name"] == "DMU 50" and booking["hub"]["slug"] == "yizhuang"
    assert booking["start"] == "2026-11-10T09:00:00+08:00"  # the hub's offset
    assert [e["to_status"] for e in booking["history"]] == ["completed", "completed"]
    assert booking["history"][-1]["reason"] == "Done on time"

    quote = json.loads(bundle.read(folder + "quote.json"))
    lines = quote["booking_quote"]["lines"]
    assert [(li["kind"], li["amount"], li["voucher_share"], li["sme_share"]) for li in lines] == [
        ("usage", "800.00", "400.00", "400.00")]
    assert quote["booking_quote"]["voucher_grant"] == {"programme": "BJ-CXQ-2026",
                                                       "reference_number": grant.reference_number}
    assert quote["accepted_quote"]["kind"] == "estimate"
    assert quote["accepted_quote"]["status"] == "accepted"
    assert quote["accepted_quote"]["total"] == "800.00"

    statement_lines = json.loads(bundle.read(folder + "statement_lines.json"))
    assert [(s["statement"], s["amount"], s["voucher_share"]) for s in statement_lines] == [
        ("ST-AUTOWORKS-2026-00001", "800.00", "400.00")]

    usage = json.loads(bundle.read(folder + "usage.json"))
    assert usage == {"booked_start": "2026-11-10T09:00:00+08:00",
                     "booked_end": "2026-11-10T11:00:00+08:00", "booked_hours": "2.00",
                     "actual_start": "2026-11-10T09:05:00+08:00",
                     "actual_end": "2026-11-10T10:50:00+08:00", "actual_hours": "1.75",
                     "evidence": "equipment_state_signal"}

    results = json.loads(bundle.read(folder + "results_summary.json"))
    assert results["trial"] == completed.pk and results["status"] == "collected"
    assert set(results["summary"]) == {"spindle_load", "vibration_rms"}
    assert results["measurement_count"] == 24 and results["gaps"] == []


def test_a_line_without_trial_statement_or_origin_still_has_its_files(claim, other_sme):
    bundle = opened(evidence.claim_bundle(claim, language="en"))
    pk = claim.lines.get(booking__organization=other_sme).booking_id
    assert json.loads(bundle.read(f"bookings/{pk}/statement_lines.json")) == []
    assert json.loads(bundle.read(f"bookings/{pk}/results_summary.json"))["trial"] is None
    assert json.loads(bundle.read(f"bookings/{pk}/quote.json"))["accepted_quote"] is None
    usage = json.loads(bundle.read(f"bookings/{pk}/usage.json"))
    assert usage["actual_hours"] is None and usage["evidence"] is None


def test_csv_and_json_agree_with_the_claim(claim, completed):
    bundle = opened(evidence.claim_bundle(claim, language="en"))
    text = bundle.read("claim.csv").decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["voucher_share_claimed"] for r in rows] == ["400.00", "250.50"]
    assert rows[0]["booking"] == str(completed.pk) and rows[0]["total"] == "800.00"
    document = json.loads(bundle.read("claim.json"))
    assert document["amount"] == "650.50" and document["month"] == "2026-11"
    assert (document["number"], document["supplementary"]) == (1, False)
    assert document["programme"]["reference"] == "BJ-CXQ-2026"
    assert [line["amount"] for line in document["lines"]] == ["400.00", "250.50"]


def test_the_summary_pdf_reads_in_english_and_chinese(claim):
    require_cjk_font()
    english = pdftotext(opened(evidence.claim_bundle(claim, language="en")).read("summary.pdf"))
    assert f"Settlement claim SC-{claim.pk}" in english
    assert "BJ-CXQ-2026" in english and "Beijing Municipal" in english
    assert "AutoWorks" in english and "Draft" in english
    assert "650.50" in english and "1,600.00" in english  # voucher share and fees
    assert "Precision" in english and "Green Motor" in english
    with translation.override("zh-hans"):
        chinese = pdftotext(opened(evidence.claim_bundle(claim)).read("summary.pdf"))
    # The claims' Chinese (locale/, merged from the claims' PO fragment).
    assert f"结算申请SC-{claim.pk}" in chinese and "创新券" in chinese
    assert "2026年11月" in chinese and "草稿" in chinese
    assert "650.50" in chinese and "1,600.00" in chinese


def test_the_bundle_costs_a_fixed_number_of_queries(claim, operator, programme, grant,
                                                    equipment, sme):
    with CaptureQueriesContext(connection) as few:
        evidence.claim_bundle(claim, language="en")
    for day in (3, 4, 5, 6):
        priced(equipment, sme, at(day), grant=grant, voucher="10.00")
    bigger, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                     month=NOVEMBER)
    assert bigger.lines.count() == 6
    with CaptureQueriesContext(connection) as many:
        evidence.claim_bundle(bigger, language="en")
    assert len(many) == len(few)

