"""The billing report (issue #7, made over for #16): per SME, hub and equipment of an
operator's hubs for a month, read from the one source of money truth — statement lines.

- *stated*: the lines of the statements issued for the month;
- *not yet stated*: the lines the month's next statements would carry
  (``builder.pending_lines``, the same rules the statements are issued with).

Each row: the bookings completed and missed (counted once per booking, by their charge
lines), hours of equipment time (net of credits), the amount of equipment time, surcharges,
set-up fees and items (``usage_amount``), late-cancellation fees, the total and its split
into voucher share and firm's share. ``ALL_HUBS`` (platform staff) covers every operator.

Queries: a fixed number (the statements' lines in one, the builder's pending lines in its
own fixed number per operator).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing.models import Statement, StatementLine
from bookings.models import Booking
from core import csv as core_csv
from organizations.models import Organization
from pricing.models import QuoteLine

from . import builder

CURRENCY = "CNY"
ZERO = Decimal("0.00")
S = Booking.Status
Kind = QuoteLine.Kind


class _AllOperators:
    def __repr__(self) -> str:
        return "ALL_OPERATORS"


ALL_OPERATORS = _AllOperators()


@dataclass
class BillingRow:
    """One SME's lines at one equipment of one hub in the month, stated or not yet."""

    organization: str  # slug
    organization_name: str
    hub: str  # slug
    hub_name: str
    equipment_id: int | None
    equipment: str
    stated: bool
    completed: int = 0
    no_shows: int = 0
    hours: Decimal = Decimal("0.00")
    usage_amount: Decimal = ZERO
    late_cancellations: int = 0
    cancellation_fees: Decimal = ZERO
    amount: Decimal = ZERO
    voucher_share: Decimal = ZERO
    sme_share: Decimal = ZERO
    _bookings: set = field(default_factory=set, repr=False)


@dataclass
class SmeBilling:
    organization: str
    organization_name: str
    lines: list[BillingRow]

    @property
    def amount(self) -> Decimal:
        return sum((r.amount for r in self.lines), ZERO)

    @property
    def voucher_share(self) -> Decimal:
        return sum((r.voucher_share for r in self.lines), ZERO)

    @property
    def sme_share(self) -> Decimal:
        return sum((r.sme_share for r in self.lines), ZERO)

    @property
    def pending_amount(self) -> Decimal:
        return sum((r.amount for r in self.lines if not r.stated), ZERO)

    @property
    def usage_amount(self) -> Decimal:
        return sum((r.usage_amount for r in self.lines), ZERO)

    @property
    def cancellation_fees(self) -> Decimal:
        return sum((r.cancellation_fees for r in self.lines), ZERO)


@dataclass
class BillingReport:
    month: date
    rows: list[BillingRow]

    @property
    def smes(self) -> list[SmeBilling]:
        groups: dict[str, list[BillingRow]] = {}
        for row in self.rows:
            groups.setdefault(row.organization, []).append(row)
        return [SmeBilling(organization=slug, organization_name=rows[0].organization_name,
                           lines=rows) for slug, rows in groups.items()]

    def _sum(self, name: str, *, pending: bool = False) -> Decimal:
        return sum((getattr(r, name) for r in self.rows if not pending or not r.stated), ZERO)

    @property
    def total(self) -> Decimal:
        return self._sum("amount")

    @property
    def voucher_total(self) -> Decimal:
        return self._sum("voucher_share")

    @property
    def sme_total(self) -> Decimal:
        return self._sum("sme_share")

    @property
    def pending_total(self) -> Decimal:
        return self._sum("amount", pending=True)

    def as_dict(self) -> dict:
        return {"month": f"{self.month:%Y-%m}", "currency": CURRENCY, "total": self.total,
                "voucher_total": self.voucher_total, "sme_total": self.sme_total,
                "pending_total": self.pending_total,
                "smes": [{"organization": s.organization,
                          "organization_name": s.organization_name, "amount": s.amount,
                          "voucher_share": s.voucher_share, "sme_share": s.sme_share,
                          "pending_amount": s.pending_amount, "lines": s.lines}
                         for s in self.smes]}


@dataclass(frozen=True)
class _Line:
    """What the report needs of a statement line or a pending charge."""

    booking: Booking
    kind: str
    line_kind: str
    quantity: Decimal
    amount: Decimal
    voucher_share: Decimal
    sme_share: Decimal
    equipment: object  # Equipment | None


def _add(rows: dict, line: _Line, *, stated: bool) -> None:
    booking = line.booking
    equipment = line.equipment or booking.equipment
    hub = booking.equipment.hub
    key = (booking.organization.name, booking.organization.slug, hub.name, equipment.name,
           equipment.pk, not stated)
    row = rows.get(key)
    if row is None:
        row = rows[key] = BillingRow(
            organization=booking.organization.slug, organization_name=booking.organization.name,
            hub=hub.slug, hub_name=hub.name, equipment_id=equipment.pk, equipment=equipment.name,
            stated=stated)
    charge = line.kind == StatementLine.Kind.CHARGE
    if charge and booking.pk not in row._bookings and line.line_kind != Kind.LATE_CANCELLATION:
        row._bookings.add(booking.pk)
        row.completed += booking.status == S.COMPLETED
        row.no_shows += booking.status == S.NO_SHOW
    if line.line_kind == Kind.LATE_CANCELLATION:
        row.cancellation_fees += line.amount
        row.late_cancellations += 1 if charge else -1
    else:
        row.usage_amount += line.amount
    if line.line_kind == Kind.USAGE:
        row.hours += line.quantity
    row.amount += line.amount
    row.voucher_share += line.voucher_share
    row.sme_share += line.sme_share


def _operators(operator, organization: Organization | None = None) -> list[Organization]:
    if operator is ALL_OPERATORS:
        found = Organization.objects.filter(kind=Organization.Kind.FLAGSHIP, hubs__isnull=False)
        if organization is not None:  # only where it booked
            found = Organization.objects.filter(
                kind=Organization.Kind.FLAGSHIP,
                hubs__equipment__bookings__organization=organization)
        return list(found.distinct().order_by("pk"))
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        return []
    return [operator]


def billing(*, operator, month: date, organization: Organization | None = None
            ) -> BillingReport:
    """The month's billing of ``operator``'s hubs (``ALL_OPERATORS``: every operator's),
    ``organization``'s alone when given; rows ordered by SME, hub, equipment, stated
    before not yet stated."""
    month = builder.month_start(month)
    operators = _operators(operator, organization)
    rows: dict = {}
    if not operators:
        return BillingReport(month=month, rows=[])
    stated = (StatementLine.objects
              .filter(statement__month=month, statement__operator__in=operators)
              .select_related("booking__equipment__hub", "booking__organization",
                              "quote_line__equipment"))
    if organization is not None:
        stated = stated.filter(statement__organization=organization)
    for line in stated.order_by("statement_id", "position"):
        _add(rows, _Line(booking=line.booking, kind=line.kind, line_kind=line.line_kind,
                         quantity=line.quantity, amount=line.amount,
                         voucher_share=line.voucher_share, sme_share=line.sme_share,
                         equipment=line.quote_line.equipment), stated=True)
    for each in operators:
        for charge in builder.pending_lines(operator=each, organization=organization,
                                            month=month):
            _add(rows, _Line(booking=charge.booking, kind=charge.kind,
                             line_kind=charge.line_kind, quantity=charge.quantity,
                             amount=charge.amount, voucher_share=charge.voucher_share,
                             sme_share=charge.sme_share, equipment=charge.quote_line.equipment),
                 stated=False)
    return BillingReport(month=month, rows=[rows[key] for key in sorted(rows)])


def statements_of(organization: Organization, month: date):
    """The statements ``organization`` (an SME) received for ``month``."""
    return Statement.objects.filter(organization=organization, month=builder.month_start(month))


# --- CSV ------------------------------------------------------------------------------

# The report's columns before #16, kept (but free_cancellations, which statement lines do
# not carry), with the split and whether the row is stated yet.
BILLING_COLUMNS = ["month", "organization", "organization_name", "hub", "equipment_id",
                   "equipment", "completed", "no_shows", "hours", "usage_amount",
                   "late_cancellations", "cancellation_fees", "amount", "voucher_share",
                   "sme_share", "stated", "currency"]


def _rows(report: BillingReport) -> Iterable[list]:
    label = f"{report.month:%Y-%m}"
    for r in report.rows:
        yield [label, r.organization, r.organization_name, r.hub, r.equipment_id, r.equipment,
               r.completed, r.no_shows, r.hours.quantize(Decimal("0.01")), r.usage_amount,
               r.late_cancellations, r.cancellation_fees, r.amount, r.voucher_share,
               r.sme_share, "yes" if r.stated else "no", CURRENCY]


def billing_csv(report: BillingReport) -> str:
    # Names are user input: core.csv writes them as text, never as a formula.
    return core_csv.text(BILLING_COLUMNS, _rows(report), lineterminator="\r\n")
