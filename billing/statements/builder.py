"""What is chargeable, and what the next statement would carry: the one source of money
truth (DESIGN.md, "Money"; issue #16). Pure reads: nothing here writes.

Chargeable lines of a booking B priced with quote Q (kind ``booking``):

- B confirmed, checked in or completed: every line of Q but a late-cancellation line, split
  into voucher share and firm's share as Q split it;
- B a no-show: the same lines, all the firm's (the voucher does not pay for unused slots);
- B cancelled with a late-cancellation line: that line alone (the firm's);
- B cancelled otherwise, rejected or still requested: nothing.

A booking without a quote (made before bookings carried quotes) is chargeable for nothing.

The lines a statement of (operator, SME, month M) carries, :func:`pending_lines`:

- the chargeable lines of the SME's bookings at the operator's hubs starting in M (each
  hub's time zone) that are on no statement yet; also those of bookings starting in an
  earlier month whose statement for that month was issued before they became chargeable
  (they are not lost: they go on the next statement);
- for bookings already stated (any month), the difference between what is chargeable now
  and what their statements carry, quote line by quote line: a credit (negative
  quantity, amount and shares, kind ``credit``) taking back what was stated, then the new
  charge. A rescheduled booking's old quote lines are credited the same way.

An SME already stated for M gets no second statement for M (one per operator, SME and
month): its pending lines are left out here and go on its next month's statement.

Queries: a fixed number however many bookings (hubs, bookings with their quote lines by
prefetch, the lines stated for them, the statements already issued).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Exists, Min, OuterRef, Prefetch, Q, Sum

from billing.models import Statement, StatementLine
from bookings.models import Booking
from bookings.reports.selectors import month_bounds
from equipment.models import Hub
from organizations.models import Organization
from pricing.models import ZERO, QuoteLine
from pricing.selectors import charged_lines

S = Booking.Status
Kind = QuoteLine.Kind

# Statuses whose quote lines (but a late-cancellation line) are chargeable as split.
CARRIED_OUT = (S.CONFIRMED, S.CHECKED_IN, S.COMPLETED)
# Statuses that can have chargeable lines at all.
CHARGEABLE_STATUSES = (*CARRIED_OUT, S.NO_SHOW, S.CANCELLED)


@dataclass(frozen=True)
class Charge:
    """One line a statement carries (or would): a quote line made chargeable, or a credit
    for what a statement carried before. ``voucher_share + sme_share == amount``."""

    booking: Booking
    quote_line: QuoteLine
    kind: str  # StatementLine.Kind
    line_kind: str  # QuoteLine.Kind
    service_date: date
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    voucher_share: Decimal
    sme_share: Decimal
    grant_id: int | None

    @property
    def organization_id(self) -> int:
        return self.booking.organization_id

    @property
    def key(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.amount, self.voucher_share, self.sme_share)


def month_start(month: date) -> date:
    return month.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def local_month(moment: datetime, tz_name: str) -> date:
    return moment.astimezone(ZoneInfo(tz_name)).date().replace(day=1)


def _service_date(booking: Booking, line: QuoteLine) -> date:
    when = line.start or booking.start
    return when.astimezone(ZoneInfo(booking.equipment.hub.timezone)).date()


def _charge(booking: Booking, line: QuoteLine, *, all_sme: bool = False) -> Charge:
    voucher = ZERO if all_sme else line.voucher_share
    return Charge(
        booking=booking, quote_line=line, kind=StatementLine.Kind.CHARGE, line_kind=line.kind,
        service_date=_service_date(booking, line), quantity=line.quantity, unit=line.unit,
        unit_price=line.unit_price, amount=line.amount, voucher_share=voucher,
        sme_share=line.amount - voucher,
        grant_id=None if all_sme or not voucher else booking.quote.grant_id)


def _quote_lines(booking: Booking) -> list[QuoteLine]:
    # Prefetched by pending_lines; a query of its own otherwise.
    return sorted(booking.quote.lines.all(), key=lambda line: line.position)


def chargeable(booking: Booking) -> list[Charge]:
    """The lines ``booking`` is chargeable for now (the rules above), in quote order: those
    ``pricing.selectors.charged_lines`` says are charged (the one source of those rules)."""
    if booking.quote_id is None:
        return []
    return [_charge(booking, c.line, all_sme=not c.voucher_share)
            for c in charged_lines(booking.quote, booking.status) if c.charged]


@dataclass(frozen=True)
class _Stated:
    """What the statements carry, net, for one quote line of one booking."""

    quote_line: QuoteLine
    service_date: date
    unit: str
    unit_price: Decimal
    quantity: Decimal
    amount: Decimal
    voucher_share: Decimal
    sme_share: Decimal
    grant_id: int | None

    @property
    def key(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.amount, self.voucher_share, self.sme_share)


def _stated_for(booking_ids: Iterable[int]) -> dict[int, dict[int, _Stated]]:
    """Booking → quote line → the net of its statement lines (one query, plus one for
    the quote lines they name)."""
    rows = list(StatementLine.objects.filter(booking_id__in=list(booking_ids)).order_by()
                .values("booking_id", "quote_line_id", "unit", "unit_price", "grant_id")
                .annotate(quantity=Sum("quantity"), amount=Sum("amount"),
                          voucher_share=Sum("voucher_share"), sme_share=Sum("sme_share"),
                          service_date=Min("service_date")))
    lines = QuoteLine.objects.in_bulk({row["quote_line_id"] for row in rows})
    out: dict[int, dict[int, _Stated]] = defaultdict(dict)
    for row in rows:
        previous = out[row["booking_id"]].get(row["quote_line_id"])
        stated = _Stated(quote_line=lines[row["quote_line_id"]],
                         service_date=row["service_date"], unit=row["unit"],
                         unit_price=row["unit_price"], quantity=row["quantity"],
                         amount=row["amount"], voucher_share=row["voucher_share"],
                         sme_share=row["sme_share"], grant_id=row["grant_id"])
        if previous is not None:  # a credit without a grant beside a charge with one
            stated = replace(previous, quantity=previous.quantity + stated.quantity,
                             amount=previous.amount + stated.amount,
                             voucher_share=previous.voucher_share + stated.voucher_share,
                             sme_share=previous.sme_share + stated.sme_share,
                             grant_id=previous.grant_id or stated.grant_id)
        out[row["booking_id"]][row["quote_line_id"]] = stated
    return out


def adjustments(booking: Booking, stated: dict[int, _Stated]) -> list[Charge]:
    """For a booking already stated: credits for what changed since, then the new charges
    (nothing when what is chargeable now is what was stated)."""
    now = {c.quote_line.pk: c for c in chargeable(booking)}
    credits, charges = [], []
    for line_id in sorted(set(now) | set(stated),
                          key=lambda pk: (pk not in now, now[pk].quote_line.position
                                          if pk in now else 0, pk)):
        old, new = stated.get(line_id), now.get(line_id)
        zero = (ZERO, ZERO, ZERO)
        if (old.key if old else zero) == (new.key if new else zero):
            continue
        if old is not None and old.key != zero:
            credits.append(Charge(
                booking=booking, quote_line=old.quote_line, kind=StatementLine.Kind.CREDIT,
                line_kind=old.quote_line.kind, service_date=old.service_date,
                quantity=-old.quantity, unit=old.unit, unit_price=old.unit_price,
                amount=-old.amount, voucher_share=-old.voucher_share, sme_share=-old.sme_share,
                grant_id=old.grant_id))
        if new is not None:
            charges.append(new)
    return credits + charges


def _hubs(operator: Organization) -> list[Hub]:
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        return []
    return list(Hub.objects.filter(operator=operator).only("pk", "timezone"))


def _bookings(query) -> list[Booking]:
    return list(query.select_related("equipment__hub", "organization", "quote")
                .prefetch_related(Prefetch("quote__lines",
                                           queryset=QuoteLine.objects.select_related(
                                               "equipment", "item").order_by("position")))
                .order_by("start", "pk"))


def pending_lines(*, operator: Organization, organization: Organization | None = None,
                  month: date) -> list[Charge]:
    """The lines the next statements of ``operator`` for ``month`` would carry (every SME's,
    or ``organization``'s alone), ordered by SME, then booking start, credits of a booking
    before its charges."""
    month = month_start(month)
    hubs = _hubs(operator)
    if not hubs:
        return []
    at_hubs = Booking.objects.filter(equipment__hub__in=[h.pk for h in hubs])
    if organization is not None:
        at_hubs = at_hubs.filter(organization=organization)
    issued = Statement.objects.filter(operator=operator)
    stated_this_month = set(issued.filter(month=month).values_list("organization_id", flat=True))
    in_month = Q()
    for tz_name in sorted({h.timezone for h in hubs}):  # few zones, however many hubs
        lo, hi = month_bounds(month, tz_name)
        in_month |= Q(equipment__hub__timezone=tz_name, start__gte=lo, start__lt=hi)
    on_a_statement = StatementLine.objects.filter(booking=OuterRef("pk"))
    fresh = at_hubs.filter(status__in=CHARGEABLE_STATUSES).exclude(Exists(on_a_statement))
    # Unstated bookings of earlier months whose month was stated without them.
    own_month_stated = issued.filter(organization=OuterRef("organization"),
                                     month__lt=month)
    fresh = fresh.filter(in_month | Q(Exists(own_month_stated), start__lt=min(
        month_bounds(month, h.timezone)[0] for h in hubs)))
    stated_before = at_hubs.filter(Exists(on_a_statement))
    if stated_this_month:
        fresh = fresh.exclude(organization_id__in=stated_this_month)
        stated_before = stated_before.exclude(organization_id__in=stated_this_month)
    months_stated = defaultdict(set)
    for org_id, stated_month in issued.filter(month__lt=month).values_list("organization_id",
                                                                           "month"):
        months_stated[org_id].add(stated_month)

    out: list[Charge] = []
    for booking in _bookings(fresh):
        tz_name = booking.equipment.hub.timezone
        own = local_month(booking.start, tz_name)
        if own != month and own not in months_stated[booking.organization_id]:
            continue  # an earlier month never stated: it is that month's statement's
        out.extend(chargeable(booking))
    restated = _bookings(stated_before)
    stated = _stated_for(b.pk for b in restated)
    for booking in restated:
        out.extend(adjustments(booking, stated.get(booking.pk, {})))
    names = {}
    for charge in out:
        names[charge.organization_id] = (charge.booking.organization.name,
                                         charge.organization_id)
    order = {key: i for i, key in enumerate(sorted(set(names.values())))}
    # A stable sort: each booking's credits stay before its charges.
    out.sort(key=lambda c: (order[names[c.organization_id]], c.booking.start, c.booking.pk,
                            c.kind != StatementLine.Kind.CREDIT))
    return out


def by_organization(charges: Iterable[Charge]) -> dict[int, list[Charge]]:
    """Group charges per SME (keeps their order)."""
    groups: dict[int, list[Charge]] = {}
    for charge in charges:
        groups.setdefault(charge.organization_id, []).append(charge)
    return groups


def totals(charges: Iterable[Charge]) -> tuple[Decimal, Decimal, Decimal]:
    """(total, voucher share, firm's share): plain sums of the lines."""
    total = voucher = sme = ZERO
    for charge in charges:
        total += charge.amount
        voucher += charge.voucher_share
        sme += charge.sme_share
    return total, voucher, sme
