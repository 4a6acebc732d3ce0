"""A settlement claim's evidence bundle: one ZIP per claim, for the programme office.

Contents (``manifest.json`` lists every other file with its size and SHA-256)::

    summary.pdf                 the claim in the requested language (core.pdf)
    claim.csv                   one row per line (core.csv: UTF-8 with BOM)
    claim.json                  the claim and its lines
    bookings/<id>/booking.json  the booking, its equipment, SME, periods and status history
    bookings/<id>/quote.json    the booking quote's lines and the accepted quote it came from
    bookings/<id>/statement_lines.json  its statement lines, with the statements' codes
    bookings/<id>/usage.json    booked vs actual use (the equipment's state signal)
    bookings/<id>/results_summary.json  the trial's results summary and gaps
    manifest.json

Every time is in the hub's offset (DESIGN.md invariant 5), every amount a decimal string
to the fen. The ZIP is written member by member into a temporary file, so memory stays
bounded by the largest member (the PDF), not the claim's size; the data behind it is
read in a fixed number of queries, whatever the number of lines.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch
from django.http import FileResponse
from django.utils import timezone, translation

from bookings.models import Booking, BookingEvent
from bookings.reports.selectors import usage
from core import csv as core_csv
from core.files import file_response
from core.pdf import render_pdf
from pricing.models import Quote, QuoteLine

from ..models import ClaimLine, SettlementClaim, StatementLine
from .selectors import claim_lines

PDF_TEMPLATE = "pdf/claim.html"
CHUNK = 64 * 1024


def filename(claim: SettlementClaim) -> str:
    return f"claim-{claim.pk}-{claim.programme.reference}-{claim.month:%Y-%m}.zip"


# --- reading -------------------------------------------------------------------------

def evidence_lines(claim: SettlementClaim) -> list[ClaimLine]:
    """The claim's lines with everything the bundle shows of them, prefetched."""
    quote_lines = QuoteLine.objects.select_related("equipment", "item").order_by("position")
    return list(
        claim_lines().filter(claim=claim)
        .select_related("grant__programme", "booking__equipment__category",
                        "booking__equipment__hub__operator", "booking__quote",
                        "booking__quote__grant__programme", "booking__quote__origin",
                        "booking__quote__origin__grant__programme", "booking__trial")
        .prefetch_related(
            Prefetch("booking__events",
                     queryset=BookingEvent.objects.select_related(
                         "actor_user", "actor_organization").order_by("at", "pk")),
            Prefetch("booking__quote__lines", queryset=quote_lines),
            Prefetch("booking__quote__origin__lines", queryset=quote_lines),
            Prefetch("booking__statement_lines",
                     queryset=StatementLine.objects.select_related(
                         "statement", "statement__operator", "grant")
                     .order_by("statement__issued_at", "statement_id", "position")),
        ))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _stamp(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def _tz(booking: Booking) -> ZoneInfo:
    return ZoneInfo(booking.equipment.hub.timezone)


def booking_record(booking: Booking) -> dict[str, Any]:
    tz = _tz(booking)
    equipment, hub = booking.equipment, booking.equipment.hub
    return {
        "id": booking.pk,
        "status": booking.status,
        "status_label": str(booking.get_status_display()),
        "organization": {"slug": booking.organization.slug, "name": booking.organization.name,
                         "credit_code": booking.organization.credit_code},
        "equipment": {"id": equipment.pk, "slug": equipment.slug, "name": equipment.name,
                      "category": equipment.category.slug if equipment.category_id else None},
        "hub": {"slug": hub.slug, "name": hub.name, "timezone": hub.timezone,
                "operator": hub.operator.slug},
        "start": _stamp(booking.start, tz),
        "end": _stamp(booking.end, tz),
        "purpose": booking.purpose,
        "price": _money(booking.price),
        "created": _stamp(booking.created, tz),
        "decided_at": _stamp(booking.decided_at, tz),
        "decision_reason": booking.decision_reason,
        "checked_in_at": _stamp(booking.checked_in_at, tz),
        "completed_at": _stamp(booking.completed_at, tz),
        "history": [{
            "code": event.code,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "at": _stamp(event.at, tz),
            "by_organization": event.actor_organization.slug if event.actor_organization else None,
            "by_user": event.actor_user.email if event.actor_user else None,
            "reason": event.reason,
            "reason_code": event.reason_code or None,
        } for event in booking.events.all()],
    }


def quote_record(quote: Quote | None, tz: ZoneInfo) -> dict[str, Any] | None:
    if quote is None:
        return None
    grant = quote.grant
    return {
        "id": quote.pk,
        "kind": quote.kind,
        "status": quote.status,
        "start": _stamp(quote.start, tz),
        "end": _stamp(quote.end, tz),
        "assisted": quote.assisted,
        "voucher_grant": None if grant is None else {
            "programme": grant.programme.reference if grant.programme_id else None,
            "reference_number": grant.reference_number},
        "if_voucher_short": quote.shortfall,
        "total": _money(quote.total),
        "voucher_total": _money(quote.voucher_total),
        "sme_total": _money(quote.sme_total),
        "created": _stamp(quote.created, tz),
        "decided_at": _stamp(quote.decided_at, tz),
        "lines": [{
            "position": line.position,
            "kind": line.kind,
            "description": str(line.get_kind_display()),
            "equipment": line.equipment.name if line.equipment_id else None,
            "item": None if line.item_id is None else {"code": line.item.code,
                                                       "name": line.item.name},
            "start": _stamp(line.start, tz),
            "end": _stamp(line.end, tz),
            "quantity": f"{line.quantity}",
            "unit": line.unit,
            "unit_price": _money(line.unit_price),
            "amount": _money(line.amount),
            "voucher_share": _money(line.voucher_share),
            "sme_share": _money(line.sme_share),
        } for line in quote.lines.all()],
    }


def statement_line_records(booking: Booking) -> list[dict[str, Any]]:
    tz = _tz(booking)
    return [{
        "statement": line.statement.code,
        "statement_month": f"{line.statement.month:%Y-%m}",
        "issued_at": _stamp(line.statement.issued_at, tz),
        "position": line.position,
        "kind": line.kind,
        "line_kind": line.line_kind,
        "service_date": line.service_date.isoformat(),
        "quantity": f"{line.quantity}",
        "unit": line.unit,
        "unit_price": _money(line.unit_price),
        "amount": _money(line.amount),
        "voucher_share": _money(line.voucher_share),
        "sme_share": _money(line.sme_share),
        "voucher_grant": line.grant.reference_number if line.grant_id else None,
    } for line in booking.statement_lines.all()]


def usage_record(booking: Booking) -> dict[str, Any]:
    tz = _tz(booking)
    used = usage(booking)
    return {
        "booked_start": _stamp(booking.start, tz),
        "booked_end": _stamp(booking.end, tz),
        "booked_hours": _money(used.booked_hours),
        "actual_start": _stamp(used.actual_start, tz),
        "actual_end": _stamp(used.actual_end, tz),
        "actual_hours": _money(used.actual_hours),
        "evidence": ("equipment_state_signal" if used.actual_hours is not None else None),
    }


def results_record(booking: Booking) -> dict[str, Any]:
    tz = _tz(booking)
    try:
        trial = booking.trial
    except ObjectDoesNotExist:
        trial = None
    if trial is None:
        return {"trial": None, "status": None, "summary": {}, "gaps": []}
    return {
        "trial": trial.pk,
        "status": trial.status,
        "collected_at": _stamp(trial.collected_at, tz),
        "measurement_count": trial.measurement_count,
        "summary": trial.summary,
        "gaps": trial.gaps,
    }


def claim_record(claim: SettlementClaim, lines: Iterable[ClaimLine]) -> dict[str, Any]:
    return {
        "id": claim.pk,
        "programme": {"id": claim.programme_id, "reference": claim.programme.reference,
                      "name": claim.programme.name, "issuer": claim.programme.issuer},
        "provider": {"slug": claim.provider.slug, "name": claim.provider.name,
                     "credit_code": claim.provider.credit_code},
        "month": f"{claim.month:%Y-%m}",
        "number": claim.number,
        "supplementary": claim.is_supplementary,
        "status": claim.status,
        "currency": "CNY",
        "amount": _money(claim.amount),
        "reason": claim.reason,
        "payment_reference": claim.payment_reference,
        "created": claim.created.isoformat() if claim.created else None,
        "submitted_at": claim.submitted_at.isoformat() if claim.submitted_at else None,
        "decided_at": claim.decided_at.isoformat() if claim.decided_at else None,
        "paid_at": claim.paid_at.isoformat() if claim.paid_at else None,
        "lines": [line_record(line) for line in lines],
    }


def line_record(line: ClaimLine) -> dict[str, Any]:
    booking = line.booking
    tz = _tz(booking)
    quote = booking.quote
    return {
        "booking": booking.pk,
        "organization": booking.organization.slug,
        "organization_name": booking.organization.name,
        "hub": booking.equipment.hub.slug,
        "equipment": booking.equipment.name,
        "start": _stamp(booking.start, tz),
        "end": _stamp(booking.end, tz),
        "voucher_grant": line.grant.reference_number,
        "total": _money(quote.total if quote else booking.price),
        "sme_share": _money(quote.sme_total if quote else None),
        "amount": _money(line.amount),
    }


CSV_HEADER = ("booking", "organization", "organization_name", "hub", "equipment", "start",
              "end", "voucher_grant", "total", "sme_share", "voucher_share_claimed")


def csv_rows(lines: Iterable[ClaimLine]) -> Iterable[list]:
    for line in lines:
        row = line_record(line)
        yield [row["booking"], row["organization"], row["organization_name"], row["hub"],
               row["equipment"], row["start"], row["end"], row["voucher_grant"],
               Decimal(row["total"]), None if row["sme_share"] is None
               else Decimal(row["sme_share"]), line.amount]


# --- writing -------------------------------------------------------------------------

def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def summary_context(claim: SettlementClaim, lines: list[ClaimLine]) -> dict[str, Any]:
    rows = []
    for line in lines:
        booking = line.booking
        rows.append({"line": line, "booking": booking, "tz": booking.equipment.hub.timezone,
                     "usage": usage(booking),
                     "total": booking.quote.total if booking.quote else booking.price})
    return {
        "claim": claim,
        "rows": rows,
        "total": sum((row["total"] for row in rows), Decimal("0.00")),
        "voucher_total": sum((line.amount for line in lines), Decimal("0.00")),
        "generated_at": timezone.now(),
    }


class _Bundle:
    """Members written into the ZIP one by one, each hashed for the manifest."""

    def __init__(self, out: IO[bytes]):
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []

    def add(self, name: str, data: bytes) -> None:
        self.zip.writestr(name, data)
        self.files.append({"name": name, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()})

    def close(self, claim: SettlementClaim) -> None:
        manifest = {"claim": claim.pk, "generated_at": timezone.now().isoformat(),
                    "files": self.files}
        self.zip.writestr("manifest.json", _json(manifest))
        self.zip.close()


def write_claim_bundle(claim: SettlementClaim, out: IO[bytes], *,
                       language: str | None = None) -> None:
    """Write the claim's evidence ZIP into ``out`` (a binary file open for writing), the
    summary in ``language`` (default: the active one)."""
    with translation.override(language or translation.get_language()):
        lines = evidence_lines(claim)
        bundle = _Bundle(out)
        bundle.add("summary.pdf", render_pdf(PDF_TEMPLATE, summary_context(claim, lines)))
        bundle.add("claim.csv", core_csv.text(CSV_HEADER, csv_rows(lines)).encode("utf-8"))
        bundle.add("claim.json", _json(claim_record(claim, lines)))
        for line in lines:
            booking = line.booking
            tz = _tz(booking)
            folder = f"bookings/{booking.pk}/"
            quote = booking.quote
            bundle.add(folder + "booking.json", _json(booking_record(booking)))
            bundle.add(folder + "quote.json", _json({
                "booking_quote": quote_record(quote, tz),
                "accepted_quote": quote_record(quote.origin if quote else None, tz),
            }))
            bundle.add(folder + "statement_lines.json", _json(statement_line_records(booking)))
            bundle.add(folder + "usage.json", _json(usage_record(booking)))
            bundle.add(folder + "results_summary.json", _json(results_record(booking)))
        bundle.close(claim)


def open_claim_bundle(claim: SettlementClaim, *, language: str | None = None) -> IO[bytes]:
    """The claim's evidence ZIP in a temporary file (deleted when closed), at its start."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    try:
        write_claim_bundle(claim, out, language=language)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def claim_bundle(claim: SettlementClaim, *, language: str | None = None) -> bytes:
    """The claim's evidence ZIP as bytes (built in a temporary file)."""
    with open_claim_bundle(claim, language=language) as handle:
        return handle.read()


def bundle_response(claim: SettlementClaim, *, language: str | None = None) -> FileResponse:
    """The ZIP as a download, streamed from its temporary file (closed when sent), with
    the headers every Testbed download carries (core.files)."""
    return file_response(open_claim_bundle(claim, language=language),
                         filename=filename(claim), content_type="application/zip",
                         block_size=CHUNK)

