"""Writes to core's own records: webhook endpoints. Each is a use case every door calls
(the webhooks API, the admin console); none of them holds a rule of its own.

Who may own an endpoint (a hub operator) is the model's validation, checked when one is
made; the API also answers any other kind of organisation with 403 before that."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from . import db, webhooks
from .errors import NOT_FOUND, READ_ONLY, ValidationFailed, full_clean
from .models import WebhookEndpoint

# Fields a caller may set; the secret, the failure count and the disabling are the
# service's (and the delivery loop's) to write.
ENDPOINT_FIELDS = frozenset({"url", "description", "event_types", "active"})


def _full_clean(endpoint: WebhookEndpoint) -> None:
    full_clean(endpoint, exclude=["organization", "secret"])


def _settable(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - ENDPOINT_FIELDS
    if unknown:
        raise ValidationFailed([READ_ONLY.violation(name) for name in sorted(unknown)])
    return data


def _locked(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint's row, locked (bounded wait: ``Busy``); NotFound when it is gone."""
    endpoint = db.locked_one(WebhookEndpoint.objects.filter(pk=endpoint_id))
    if endpoint is None:
        raise NOT_FOUND.error()
    return endpoint


def create_endpoint(*, organization, data: dict[str, Any]) -> WebhookEndpoint:
    """A new endpoint of ``organization`` with a fresh signing secret (``whsec_…``), which
    the caller shows once."""
    endpoint = WebhookEndpoint(organization=organization, secret=webhooks.new_secret(),
                               **_settable(data))
    full_clean(endpoint, exclude=["secret"])  # the owner too: only an operator has endpoints
    endpoint.save()
    return endpoint


def enable_endpoint(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Turn an endpoint (back) on with a fresh start: no failures counted, no disabling
    on record, so it gets the full number of attempts before it is disabled again."""
    with transaction.atomic():
        endpoint = _locked(endpoint.pk)
        endpoint.active = True
        endpoint.consecutive_failures = 0
        endpoint.disabled_at, endpoint.disabled_reason = None, ""
        endpoint.save(update_fields=["active", "consecutive_failures", "disabled_at",
                                     "disabled_reason"])
    return endpoint


def update_endpoint(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    """Change an endpoint. Switching it back on goes through :func:`enable_endpoint` (a
    fresh start); only the fields given are written, so the delivery loop's failure count
    is never overwritten with a stale value."""
    data = dict(_settable(data))
    active = data.pop("active", None)
    with transaction.atomic():
        was_active = _locked(endpoint.pk).active
        for key, value in data.items():
            setattr(endpoint, key, value)
        fields = list(data)
        if active is False:
            endpoint.active = False
            fields.append("active")
        elif active is True:
            endpoint.active = was_active  # enable_endpoint below decides
        _full_clean(endpoint)
        if fields:
            endpoint.save(update_fields=fields)
        if active is True and not was_active:
            endpoint = enable_endpoint(endpoint=endpoint)
    return endpoint


def delete_endpoint(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint; its past messages and their delivery log stay (unlinked)."""
    endpoint.delete()
