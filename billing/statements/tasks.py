"""Celery tasks of statements: the monthly sweep. Thin and idempotent: the service issues
nothing twice, so a run repeated, or missed and made up the next day, is safe."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, name="billing.issue_due_statements")
def issue_due_statements() -> int:
    """Every operator's statements for last month (issued once; a daily run fills in what
    an earlier run missed). Returns how many statements were issued."""
    return services.issue_due_statements()
