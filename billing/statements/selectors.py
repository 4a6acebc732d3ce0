"""Reads of statements, scoped to the acting organisation: an SME sees its own, an
operator those it issued, anyone else none; another organisation's statement is "not
found"."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from billing.models import Statement, StatementLine
from core.errors import valid_id
from organizations.models import Organization

from .errors import STATEMENT_NOT_FOUND


def statements_visible_to(organization: Organization | None) -> QuerySet[Statement]:
    base = Statement.objects.select_related("operator", "organization")
    if organization is None:
        return base.none()
    if organization.kind == Organization.Kind.SME:
        return base.filter(organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return base.filter(operator=organization)
    return base.none()


def with_lines(query: QuerySet[Statement]) -> QuerySet[Statement]:
    return query.prefetch_related(Prefetch(
        "lines", queryset=StatementLine.objects.select_related(
            "booking__equipment__hub", "quote_line__equipment", "quote_line__item",
            "grant__programme").order_by("position")))


def statement_for(organization: Organization | None, pk) -> Statement:
    """One statement ``organization`` may see, with its lines; 404 otherwise."""
    key = valid_id(pk)
    found = (with_lines(statements_visible_to(organization)).filter(pk=key).first()
             if key else None)
    if found is None:
        raise STATEMENT_NOT_FOUND.error()
    return found
