"""Voucher use per programme, per SME and per hub for a period (issue #16, "Reports"):
how much was granted, used (the voucher shares of booked booking quotes starting in the
period), reserved (the voucher shares of booked booking quotes starting later, not yet
carried out), still remaining, over how many bookings, and how much of it was claimed from
the programme and paid. Granted = used + reserved + remaining when the period starts
before the grants were first used and every use was in the actor's scope (the default
period, this year so far, at one provider). Programme and hub names are in the active
language. Pure reads in the selectors style, scoped by the actor:

- a hub operator: bookings at its hubs, the claims it made, and the grants used there;
- an SME: its own bookings and grants (and the claims providers made on them);
- platform staff (``ALL``, the admin console): everything;
- anyone else: nothing.

Figures come from the quote lines, claim lines and grants in one aggregate query each,
whatever the number of rows; the roll-ups are sums of the same groups, so the per-SME
and per-hub rows of a programme add up to its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import CharField, Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from modeltranslation.utils import build_localized_fieldname, get_language

from bookings.reports.selectors import check_period
from core import csv as core_csv
from organizations.models import Organization
from pricing.models import Quote, QuoteLine, VoucherGrant
from pricing.money import fen

from ..models import ClaimLine, SettlementClaim

ZERO = Decimal("0.00")
CLAIMED = (SettlementClaim.Status.SUBMITTED, SettlementClaim.Status.APPROVED,
           SettlementClaim.Status.PAID)


class _Everyone:
    """Platform staff: every organisation's voucher use."""

    def __repr__(self) -> str:
        return "ALL"


ALL = _Everyone()
Actor = Organization | _Everyone | None


@dataclass(frozen=True)
class VoucherUse:
    """One row: a programme (``level`` "programme"), or one SME or hub under it. ``used``:
    the voucher shares of booked bookings starting in the period; ``reserved``: of booked
    bookings starting after it (and not before now: not yet carried out); ``granted`` and
    ``remaining`` (now) are the grants' figures, None on hub rows (a grant belongs to a
    firm, not a hub)."""

    level: str
    programme_id: int
    programme: str  # reference
    programme_name: str
    key: str  # the SME's or hub's slug; "" on programme rows
    name: str
    used: Decimal = ZERO
    reserved: Decimal = ZERO
    bookings: int = 0
    claimed: Decimal = ZERO
    paid: Decimal = ZERO
    granted: Decimal | None = None
    remaining: Decimal | None = None


@dataclass(frozen=True)
class VoucherReport:
    start: datetime
    end: datetime
    programmes: list[VoucherUse]
    smes: list[VoucherUse]
    hubs: list[VoucherUse]

    @property
    def rows(self) -> list[VoucherUse]:
        return [*self.programmes, *self.smes, *self.hubs]


def _scopes(actor: Actor) -> tuple[Q, Q, Q] | None:
    """(quote line filter, claim line filter, grant filter) for ``actor``; None: nothing."""
    if actor is ALL:
        return Q(), Q(), Q()
    if actor is None:
        return None
    if actor.kind == Organization.Kind.FLAGSHIP:
        return (Q(quote__hub__operator=actor), Q(claim__provider=actor),
                Q(quotes__hub__operator=actor))
    if actor.kind == Organization.Kind.SME:
        return (Q(quote__organization=actor), Q(booking__organization=actor),
                Q(organization=actor))
    return None


def _name(path: str) -> Coalesce:
    """A translated ``…__name`` in the active language, the English one where it has none
    (``values("hub__name")`` would read the raw column, English)."""
    return Coalesce(F(build_localized_fieldname(path, get_language())),
                    F(build_localized_fieldname(path, "en")), F(path),
                    output_field=CharField())


def voucher_use(*, actor: Actor, start: datetime, end: datetime,
                now: datetime | None = None) -> VoucherReport:
    """Voucher use in [start, end) (bookings by their start), as ``actor`` may see it;
    reserved: booked later than the period and than ``now``."""
    check_period(start, end)
    scopes = _scopes(actor)
    if scopes is None:
        return VoucherReport(start, end, [], [], [])
    lines_scope, claims_scope, grants_scope = scopes
    in_period = Q(quote__start__lt=end)
    reserved = Q(quote__start__gte=max(end, now or timezone.now()))
    used_rows = (
        QuoteLine.objects.filter(lines_scope, in_period | reserved,
                                 quote__kind=Quote.Kind.BOOKING,
                                 quote__status=Quote.Status.BOOKED,
                                 quote__grant__isnull=False, quote__voucher_total__gt=0,
                                 quote__start__gte=start)
        .values("quote__grant__programme", "quote__grant__programme__reference",
                "quote__organization__slug", "quote__organization__name", "quote__hub__slug",
                programme_name=_name("quote__grant__programme__name"),
                hub_name=_name("quote__hub__name"))
        .annotate(used=Sum("voucher_share", filter=in_period),
                  reserved=Sum("voucher_share", filter=reserved),
                  bookings=Count("quote", distinct=True, filter=in_period))
        .order_by())
    claim_rows = (
        ClaimLine.objects.filter(claims_scope, claim__status__in=CLAIMED,
                                 booking__start__gte=start, booking__start__lt=end)
        .values("claim__programme", "claim__programme__reference",
                "booking__organization__slug", "booking__organization__name",
                "booking__equipment__hub__slug", "claim__status",
                programme_name=_name("claim__programme__name"),
                hub_name=_name("booking__equipment__hub__name"))
        .annotate(amount=Sum("amount")).order_by())
    first_day, last_day = timezone.localdate(start), timezone.localdate(end - timedelta(
        microseconds=1))
    grant_ids = (VoucherGrant.objects.filter(grants_scope).values("pk")
                 if actor is not ALL and actor.kind == Organization.Kind.FLAGSHIP else None)
    grants = VoucherGrant.objects.filter(revoked_at__isnull=True, valid_from__lte=last_day,
                                         valid_until__gte=first_day)
    if grant_ids is not None:
        grants = grants.filter(pk__in=grant_ids)
    elif actor is not ALL:
        grants = grants.filter(grants_scope)
    grant_rows = (grants.values("programme", "programme__reference", "organization__slug",
                                "organization__name",
                                programme_name=_name("programme__name"))
                  .annotate(granted=Sum("amount"), used_now=Sum("used")).order_by())
    return _roll_up(start, end, list(used_rows), list(claim_rows), list(grant_rows))


def _roll_up(start, end, used_rows, claim_rows, grant_rows) -> VoucherReport:
    programmes: dict[int, VoucherUse] = {}
    smes: dict[tuple[int, str], VoucherUse] = {}
    hubs: dict[tuple[int, str], VoucherUse] = {}

    def rows_for(pid, ref, pname, sme, sme_name, hub=None, hub_name=None) -> list:
        found = [programmes.setdefault(pid, VoucherUse("programme", pid, ref, pname, "", pname)),
                 smes.setdefault((pid, sme), VoucherUse("sme", pid, ref, pname, sme, sme_name))]
        if hub is not None:
            found.append(hubs.setdefault((pid, hub),
                                         VoucherUse("hub", pid, ref, pname, hub, hub_name)))
        return found

    def add(row: VoucherUse, **amounts) -> VoucherUse:
        return replace(row, **{k: (getattr(row, k) or 0) + v for k, v in amounts.items()})

    def put(row: VoucherUse, **amounts) -> None:
        table = {"programme": programmes, "sme": smes, "hub": hubs}[row.level]
        key = row.programme_id if row.level == "programme" else (row.programme_id, row.key)
        table[key] = add(row, **amounts)

    for r in used_rows:
        for row in rows_for(r["quote__grant__programme"], r["quote__grant__programme__reference"],
                            r["programme_name"], r["quote__organization__slug"],
                            r["quote__organization__name"], r["quote__hub__slug"],
                            r["hub_name"]):
            put(row, used=r["used"] or ZERO, reserved=r["reserved"] or ZERO,
                bookings=r["bookings"])
    for r in claim_rows:
        paid = r["amount"] if r["claim__status"] == SettlementClaim.Status.PAID else ZERO
        for row in rows_for(r["claim__programme"], r["claim__programme__reference"],
                            r["programme_name"], r["booking__organization__slug"],
                            r["booking__organization__name"],
                            r["booking__equipment__hub__slug"], r["hub_name"]):
            put(row, claimed=r["amount"], paid=paid)
    for r in grant_rows:
        for row in rows_for(r["programme"], r["programme__reference"], r["programme_name"],
                            r["organization__slug"], r["organization__name"]):
            put(row, granted=r["granted"], remaining=r["granted"] - r["used_now"])

    def ordered(rows: Iterable[VoucherUse]) -> list[VoucherUse]:
        return sorted(rows, key=lambda row: (row.programme, row.name.casefold(), row.key))

    return VoucherReport(start, end, ordered(programmes.values()), ordered(smes.values()),
                         ordered(hubs.values()))


CSV_HEADER = ("level", "programme", "programme_name", "key", "name", "granted", "used",
              "reserved", "remaining", "bookings", "claimed", "paid")


def _cny(value: Decimal | None) -> Decimal | None:
    """Two decimals whatever the database's sum gave (``200000`` as ``200000.00``)."""
    return None if value is None else fen(value)


def csv_rows(report: VoucherReport) -> Iterable[list]:
    for row in report.rows:
        yield [row.level, row.programme, row.programme_name, row.key, row.name,
               _cny(row.granted), _cny(row.used), _cny(row.reserved), _cny(row.remaining),
               row.bookings, _cny(row.claimed), _cny(row.paid)]


def voucher_use_csv(report: VoucherReport) -> str:
    return core_csv.text(CSV_HEADER, csv_rows(report))
