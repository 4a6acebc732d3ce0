"""Issuing monthly statements (issue #16): one per SME with pending lines, per operator and
month, numbered without gaps per operator and year.

Numbering: the year is the year of the month stated (a December statement issued on 2
January is number n of December's year), so a year's statements are that year's usage;
``Statement.code`` reads ``ST-<OPERATOR>-<year>-<number>``.

Gapless under concurrency: the operator's ``StatementSequence`` row for the year is made
first in a short transaction of its own (``get_or_create``, so two first runs of a year
do not race on its insert), then the issuing transaction locks the operator's row (every
statement run of one operator, whatever month or year, goes one at a time, so no booking
is stated twice) and the sequence row, computes the pending lines under those locks,
takes ``last + 1`` per statement, inserts statements and lines and saves ``last``. A run
that fails rolls its numbers back with everything else. The constraint
``statement_once_per_month`` is the last word on duplicates.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Statement, StatementLine, StatementSequence
from core.errors import Conflict
from organizations.models import Organization

from . import builder, notifications
from .errors import MONTH_IN_FUTURE, NOT_AN_OPERATOR, STATEMENT_RACE

logger = logging.getLogger(__name__)


def sequence_year(month: date) -> int:
    """The numbering year of a statement for ``month``: that month's year."""
    return month.year


def _ensure_sequence(operator: Organization, year: int) -> None:
    """The sequence row exists (its own short transaction, or a savepoint when the caller
    is inside one, e.g. the API's idempotency key)."""
    try:
        with transaction.atomic():
            StatementSequence.objects.get_or_create(operator=operator, year=year)
    except IntegrityError:  # made by a concurrent run between the get and the create
        StatementSequence.objects.get(operator=operator, year=year)


def issue_statements(*, operator: Organization, month: date, by_user=None,
                     now: datetime | None = None) -> list[Statement]:
    """Issue ``operator``'s statements for ``month``: one per SME with pending lines (see
    ``builder.pending_lines``) and none yet for that month; returns those issued (none on a
    second run: adjustments found later go on the next month's statement)."""
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        raise NOT_AN_OPERATOR.error()
    month = builder.month_start(month)
    now = now or timezone.now()
    if month > timezone.localtime(now).date().replace(day=1):
        raise MONTH_IN_FUTURE.error()
    year = sequence_year(month)
    _ensure_sequence(operator, year)
    try:
        with transaction.atomic():
            Organization.objects.select_for_update(no_key=True).filter(pk=operator.pk).first()
            sequence = StatementSequence.objects.select_for_update().get(operator=operator,
                                                                        year=year)
            groups = builder.by_organization(builder.pending_lines(operator=operator,
                                                                   month=month))
            issued = []
            firms = Organization.objects.in_bulk([o for o, charges in groups.items() if charges])
            for organization_id, charges in groups.items():
                if not charges:
                    continue
                sequence.last += 1
                total, voucher, sme = builder.totals(charges)
                statement = Statement.objects.create(
                    operator=operator, organization=firms[organization_id], month=month,
                    year=year, number=sequence.last, total=total, voucher_total=voucher,
                    sme_total=sme, issued_at=now, issued_by=by_user)
                StatementLine.objects.bulk_create(
                    StatementLine(statement=statement, position=position, kind=c.kind,
                                  booking=c.booking, quote_line=c.quote_line,
                                  line_kind=c.line_kind, service_date=c.service_date,
                                  quantity=c.quantity, unit=c.unit, unit_price=c.unit_price,
                                  amount=c.amount, voucher_share=c.voucher_share,
                                  sme_share=c.sme_share, grant_id=c.grant_id)
                    for position, c in enumerate(charges, start=1))
                notifications.statement_issued(statement, lines=len(charges))
                issued.append(statement)
            if issued:
                sequence.save(update_fields=["last"])
    except IntegrityError as exc:  # the constraints caught what the locks should have
        logger.warning("statements: run for %s %s refused by a constraint: %s",
                       operator.slug, f"{month:%Y-%m}", exc)
        raise STATEMENT_RACE.error() from None
    for statement in issued:
        logger.info("statement.issued %s (%s, %s CNY)", statement.code,
                    statement.organization_id, statement.total)
    return issued


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def issue_due_statements(now: datetime | None = None) -> int:
    """The sweep: every operator's statements for the month before ``now`` (local time).
    Meant to run daily; a run on any day after the 1st issues what the 1st's run missed
    (idempotent), and nothing twice. Returns how many statements were issued."""
    now = now or timezone.now()
    month = previous_month(timezone.localtime(now).date())
    issued = 0
    for operator in Organization.objects.filter(kind=Organization.Kind.FLAGSHIP,
                                                hubs__isnull=False).distinct().order_by("pk"):
        try:
            issued += len(issue_statements(operator=operator, month=month, now=now))
        except Conflict:  # a concurrent run got there first; the next sweep looks again
            logger.warning("statements: %s %s left for the next sweep", operator.slug,
                           f"{month:%Y-%m}")
    return issued
