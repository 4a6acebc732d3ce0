"""Celery task of service requests: the expiry sweep (scheduled by celery beat as
``expire-service-requests``; ``manage.py sweep expire-service-requests`` runs it by hand).
Thin and idempotent: the service selects what is due and re-checks each under its lock."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, name="billing.expire_service_requests")
def expire_service_requests() -> int:
    """Offers past their validity and requests nobody answered in time → expired."""
    return services.expire_requests()
