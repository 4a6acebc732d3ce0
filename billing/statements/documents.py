"""A statement as a document: PDF (core/pdf.py, in English or Chinese) and CSV
(core/csv.py, with the byte order mark Excel needs). Both read the statement's stored
lines; a line's description is made from its kind, equipment or item in the document's
language, never stored as text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.models import Statement, StatementLine
from core import csv as core_csv
from core.pdf import render_pdf
from pricing.models import QuoteLine

CURRENCY = "CNY"
LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)
TEMPLATE = "pdf/statement.html"


def language_or_default(value: str | None, default: str | None = None) -> str:
    """``value`` if it is one of the site's languages (``en``, ``zh-hans``), else
    ``default`` (the reader's), else the site's."""
    for candidate in (value, default):
        if candidate:
            candidate = candidate.lower()
            if candidate in LANGUAGES:
                return candidate
            if candidate.startswith("zh"):
                return "zh-hans"
            if candidate.startswith("en"):
                return "en"
    return settings.LANGUAGE_CODE


def describe(line: StatementLine) -> str:
    """The line's description in the active language: what it is for, then which
    equipment or item (names in the active language where the catalogue has them)."""
    quote_line = line.quote_line
    what = str(QuoteLine.Kind(line.line_kind).label)
    if quote_line.item_id is not None:
        subject = quote_line.item.name
        what = f"{what}: {subject}" if line.line_kind != QuoteLine.Kind.ITEM else subject
    else:
        equipment = quote_line.equipment or line.booking.equipment
        what = f"{what}: {equipment.name}"
    if line.kind == StatementLine.Kind.CREDIT:
        return _("Credit: %(what)s") % {"what": what}
    return what


@dataclass(frozen=True)
class GrantUsed:
    programme: str
    reference_number: str
    voucher_share: Decimal


def grants_used(lines: Iterable[StatementLine]) -> list[GrantUsed]:
    """The voucher grants the statement's lines draw on, with the net voucher share of
    each (grants whose lines net to zero included: their credits are on it)."""
    found: dict[int, list] = {}
    for line in lines:
        if line.grant_id is None:
            continue
        entry = found.setdefault(line.grant_id, [line.grant, Decimal("0.00")])
        entry[1] += line.voucher_share
    return [GrantUsed(programme=f"{grant.programme.name} ({grant.programme.reference})",
                      reference_number=grant.reference_number, voucher_share=share)
            for grant, share in found.values()]


def context(statement: Statement) -> dict:
    lines = list(statement.lines.all())
    charges = [li for li in lines if li.kind == StatementLine.Kind.CHARGE]
    credits = [li for li in lines if li.kind == StatementLine.Kind.CREDIT]
    return {
        "statement": statement,
        "rows": [(line, describe(line)) for line in charges],
        "credit_rows": [(line, describe(line)) for line in credits],
        "credit_total": sum((li.amount for li in credits), Decimal("0.00")),
        "grants": grants_used(lines),
        "issued_on": timezone.localtime(statement.issued_at).date(),
        "currency": CURRENCY,
    }


def statement_pdf(statement: Statement, language: str) -> bytes:
    """The statement as a PDF in ``language`` (``en`` or ``zh-hans``)."""
    with translation.override(language_or_default(language)):
        return render_pdf(TEMPLATE, context(statement))


def filename(statement: Statement, extension: str, language: str | None = None) -> str:
    suffix = f"-{language}" if language else ""
    return f"{statement.code}{suffix}.{extension}"


def quantity(value: Decimal) -> Decimal:
    """2.0000 as 2, 1.5000 as 1.5 (never 1E+1)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.quantize(Decimal("0.0001")).normalize()


CSV_COLUMNS = ["statement", "operator", "organization", "month", "position", "kind",
               "line_kind", "booking", "service_date", "description", "quantity", "unit",
               "unit_price", "amount", "voucher_share", "sme_share", "grant_reference",
               "currency"]


def csv_rows(statement: Statement) -> list[list]:
    """One row per line, descriptions in English (the columns are for programs)."""
    with translation.override("en"):
        return [[statement.code, statement.operator.slug, statement.organization.slug,
                 f"{statement.month:%Y-%m}", line.position, line.kind, line.line_kind,
                 line.booking_id, line.service_date.isoformat(), describe(line),
                 quantity(line.quantity), line.unit, line.unit_price, line.amount,
                 line.voucher_share, line.sme_share,
                 line.grant.reference_number if line.grant_id else "", CURRENCY]
                for line in statement.lines.all()]


def statement_csv(statement: Statement) -> str:
    """The statement's lines as CSV text (starting with the BOM)."""
    return core_csv.text(CSV_COLUMNS, csv_rows(statement), lineterminator="\r\n")
