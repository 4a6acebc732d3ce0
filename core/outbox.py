"""The outbox: notifications queued in the database, sent by Celery, each exactly once.

``queue_email`` / ``queue_webhook`` write an OutboxMessage in the caller's transaction
(idempotent through its unique ``dedupe_key``) and nudge a worker after commit.
``deliver`` sends one message under a lease (never two attempts in flight), logs the
attempt, and either marks it sent or schedules the next attempt with backoff; the
sweep ``due_messages`` finds whatever a lost nudge or a dead worker left behind.

Messages about one subject (e.g. the events of one booking) can be ordered: queued with
``ordering=(subject, sequence)``, each destination (an e-mail address, a webhook
endpoint) receives them in sequence order. A message waits while an earlier one of its
subject to its destination is still pending (being retried included); once that one is
sent, or given up after the last attempt, the next goes (and is nudged at once).

Some messages are worked out at send time by the app that emits them (a dataset release
to a university: eligibility re-checked and the package built under the release's row lock
right before each attempt). They are queued with ``queue_prepared`` on the channel
``prepared``; the app registers a ``Preparer`` for the event type (from its AppConfig, so
core imports no app) whose ``prepare`` runs inside the claim, under the message's row lock,
and whose ``settle`` records the attempt's outcome in the app's own rows, in the
transaction that logs the attempt. The lease, the backoff, the attempt log (DeliveryLog)
and the retry are this module's, for every channel.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.dispatch import Signal
from django.utils import timezone

from . import db, webhooks
from .errors import Busy
from .models import DeliveryLog, OutboxMessage, WebhookEndpoint
from .tasks import deliver_outbox_message, enqueue_on_commit

logger = logging.getLogger(__name__)
M = OutboxMessage.Status

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
# An endpoint that failed this many deliveries in a row is disabled (and its owner told).
DISABLE_AFTER_FAILURES = 10

# sender=WebhookEndpoint, endpoint=…: sent when an endpoint is disabled after failures.
endpoint_disabled = Signal()


def backoff(attempts: int, *, first: timedelta = timedelta(seconds=30),
            cap: timedelta = timedelta(hours=1)) -> timedelta:
    """The wait after attempt number ``attempts``: ``first``, then doubling, capped (by
    default 30 s, 1 min, 2 min … 1 hour). The one retry curve of the project: outbox
    messages, and Celery tasks that retry (``countdown``)."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


# (subject, sequence): e.g. ("booking:42", <event id>); see the module docstring.
Ordering = tuple[str, int]


def _ordering_fields(ordering: Ordering | None, destination: str) -> dict:
    if ordering is None:
        return {}
    subject, sequence = ordering
    return {"ordering_key": f"{subject}|{destination}", "sequence": sequence}


def _queue(**fields) -> OutboxMessage | None:
    """Insert unless the dedupe key exists; returns the new row (None if it existed)."""
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(next_attempt_at=timezone.now(), **fields)
    except IntegrityError:
        return None
    enqueue_on_commit(deliver_outbox_message, message.pk)
    return message


def queue_email(*, event_type: str, dedupe_key: str, to: str, subject: str,
                body: str, ordering: Ordering | None = None) -> OutboxMessage | None:
    return _queue(channel=OutboxMessage.Channel.EMAIL, event_type=event_type,
                  dedupe_key=f"email:{dedupe_key}:{to.lower()}", recipient=to,
                  message_id=webhooks.new_message_id(),
                  payload={"subject": subject, "body": body},
                  **_ordering_fields(ordering, f"email:{to.lower()}"))


def queue_prepared(*, event_type: str, dedupe_key: str, recipient: str, message_id: str,
                   payload: dict, nudge: bool = True,
                   now: datetime | None = None) -> OutboxMessage | None:
    """A message whose content and destination the ``Preparer`` registered for
    ``event_type`` works out at send time (``payload``: what it needs to find its rows),
    due ``now``. ``nudge=False``: the caller sends it itself (e.g. a sweep that sends what
    is due)."""
    fields = {"channel": OutboxMessage.Channel.PREPARED, "event_type": event_type,
              "dedupe_key": f"prepared:{dedupe_key}", "recipient": recipient,
              "message_id": message_id, "payload": payload}
    if nudge:
        return _queue(**fields)
    message, created = OutboxMessage.objects.get_or_create(
        dedupe_key=fields.pop("dedupe_key"),
        defaults={**fields, "next_attempt_at": now or timezone.now()})
    return message if created else None


@dataclass(frozen=True)
class Prepared:
    """What to send now: a signed webhook (``hub``: whose allowed networks apply)."""

    url: str
    secret: str
    data: dict
    hub: Any = None


@dataclass(frozen=True)
class NotNow:
    """No attempt now. ``cancel`` (a reason): nothing will ever be sent; otherwise the
    message waits until ``until`` (None: until the app sets ``next_attempt_at`` again)."""

    until: datetime | None = None
    cancel: str = ""


class Preparer(Protocol):
    def prepare(self, message: OutboxMessage, now: datetime) -> Prepared | NotNow:
        """Caller holds the message's row lock, in the claim's transaction. May raise
        ``Busy`` (a bounded lock ran out): the message is left for a later attempt."""

    def settle(self, message: OutboxMessage, attempt: Attempt, *, final: bool,
               now: datetime) -> None:
        """In the transaction that logs the attempt; ``final``: it failed and was the
        last one."""


_preparers: dict[str, Preparer] = {}


def register_preparer(event_type: str, preparer: Preparer) -> None:
    _preparers[event_type] = preparer


def subscribed_endpoints(organization_id: int, event_type: str) -> list[WebhookEndpoint]:
    return [e for e in WebhookEndpoint.objects.filter(organization_id=organization_id,
                                                      active=True) if e.wants(event_type)]


def queue_webhooks(*, organization_id: int, event_type: str, dedupe_key: str,
                   data: dict, ordering: Ordering | None = None) -> int:
    """One message per active endpoint of the organisation that subscribes to the type."""
    queued = 0
    for endpoint in subscribed_endpoints(organization_id, event_type):
        queued += _queue(channel=OutboxMessage.Channel.WEBHOOK, event_type=event_type,
                         dedupe_key=f"webhook:{dedupe_key}:{endpoint.pk}",
                         recipient=endpoint.url, endpoint=endpoint,
                         message_id=webhooks.new_message_id(), payload={"data": data},
                         **_ordering_fields(ordering, f"webhook:{endpoint.pk}")
                         ) is not None
    return queued


def _earlier_pending() -> QuerySet[OutboxMessage]:
    """Pending messages before the outer one in its ordering (for ``Exists``)."""
    return OutboxMessage.objects.filter(
        ordering_key=OuterRef("ordering_key"), sequence__lt=OuterRef("sequence"),
        status=M.PENDING).exclude(ordering_key="")


def _waits_for_earlier(message: OutboxMessage) -> bool:
    return bool(message.ordering_key) and OutboxMessage.objects.filter(
        ordering_key=message.ordering_key, sequence__lt=message.sequence,
        status=M.PENDING).exists()


def _nudge_next(message: OutboxMessage, now: datetime) -> None:
    """``message`` is done (sent or given up): the next one of its ordering, if it is due,
    is sent after commit instead of waiting for the sweep."""
    if not message.ordering_key:
        return
    following = (OutboxMessage.objects.filter(
        ordering_key=message.ordering_key, sequence__gt=message.sequence, status=M.PENDING)
        .order_by("sequence", "pk").values_list("pk", "next_attempt_at").first())
    if following and (following[1] is None or following[1] <= now):
        enqueue_on_commit(deliver_outbox_message, following[0])


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""
    duration_ms: int = 0


@dataclass(frozen=True)
class Claimed:
    message: OutboxMessage
    prepared: Prepared | None = None


def _claim(message_id: int, now: datetime) -> Claimed | str:
    """The message, leased for one attempt; or why not: "skipped" (not pending, being sent,
    endpoint gone) or "waiting" (an earlier message of its ordering is still pending).

    The row lock is waited for at most ``DB_LOCK_TIMEOUT_MS`` (``core.db.locked``): whoever
    holds it is sending or settling the message, so a wait that runs out is "skipped" too
    (a message left pending is sent by the next nudge or the sweep)."""
    try:
        return _claim_locked(message_id, now)
    except Busy:
        return "skipped"


def _claim_locked(message_id: int, now: datetime) -> Claimed | str:
    with transaction.atomic():
        message = db.locked_one(OutboxMessage.objects.select_related("endpoint")
                                .filter(pk=message_id), of=("self",))
        if message is None or message.status != M.PENDING:
            return "skipped"
        if message.sending_until and message.sending_until > now:
            return "skipped"  # another worker is sending it right now
        if message.channel == OutboxMessage.Channel.WEBHOOK and (
                message.endpoint is None or not message.endpoint.active):
            message.status, message.last_error = M.CANCELLED, webhooks.ENDPOINT_GONE
            message.save(update_fields=["status", "last_error"])
            return "skipped"
        if _waits_for_earlier(message):
            return "waiting"  # sent when the earlier one is done (``_nudge_next``)
        prepared = None
        if message.channel == OutboxMessage.Channel.PREPARED:
            prepared = _preparers[message.event_type].prepare(message, now)
            if isinstance(prepared, NotNow):
                if prepared.cancel:
                    message.status, message.next_attempt_at = M.CANCELLED, None
                    message.last_error = prepared.cancel
                else:
                    message.next_attempt_at = prepared.until
                message.save(update_fields=["status", "next_attempt_at", "last_error"])
                return "skipped"
        message.attempts += 1
        message.sending_until = now + LEASE
        message.save(update_fields=["attempts", "sending_until"])
        return Claimed(message, prepared)


def _send_email(message: OutboxMessage) -> Attempt:
    started = time.monotonic()
    email = EmailMultiAlternatives(
        subject=message.payload["subject"], body=message.payload["body"],
        from_email=settings.DEFAULT_FROM_EMAIL, to=[message.recipient],
        headers={"Message-ID": f"<{message.message_id}@testbed>",
                 "X-Testbed-Event": message.event_type})
    try:
        email.send()
        return Attempt(True, duration_ms=int((time.monotonic() - started) * 1000))
    except Exception as exc:  # noqa: BLE001 - SMTP and friends: any failure is retried
        return Attempt(False, error=f"{exc.__class__.__name__}: {str(exc)[:300]}",
                       duration_ms=int((time.monotonic() - started) * 1000))


def _send_webhook(message: OutboxMessage, prepared: Prepared | None) -> Attempt:
    if prepared is None:
        prepared = Prepared(message.endpoint.url, message.endpoint.secret,
                            message.payload["data"])
    result = webhooks.deliver(url=prepared.url, secret=prepared.secret,
                              msg_id=message.message_id, event_type=message.event_type,
                              data=prepared.data, hub=prepared.hub)
    return Attempt(result.ok, result.status_code, result.error, result.response_excerpt,
                   result.duration_ms)


def deliver(*, message_id: int, now: datetime | None = None) -> str:
    """One attempt at sending a message; returns its status afterwards ("skipped" or
    "waiting" when no attempt was made, see ``_claim``)."""
    claimed = _claim(message_id, now or timezone.now())
    if isinstance(claimed, str):
        return claimed
    message = claimed.message
    attempt = (_send_email(message) if message.channel == OutboxMessage.Channel.EMAIL
               else _send_webhook(message, claimed.prepared))
    done = timezone.now()
    with transaction.atomic():
        DeliveryLog.objects.create(message=message, at=done, ok=attempt.ok,
                                   status_code=attempt.status_code, error=attempt.error,
                                   response_excerpt=attempt.response_excerpt,
                                   duration_ms=attempt.duration_ms)
        fields = {"sending_until": None}
        if attempt.ok:
            fields.update(status=M.SENT, sent_at=done, last_error="", next_attempt_at=None)
        elif message.attempts >= MAX_ATTEMPTS:
            fields.update(status=M.FAILED, last_error=attempt.error, next_attempt_at=None)
        else:
            fields.update(last_error=attempt.error,
                          next_attempt_at=done + backoff(message.attempts))
        OutboxMessage.objects.filter(pk=message.pk).update(**fields)
        if message.channel == OutboxMessage.Channel.PREPARED:
            _preparers[message.event_type].settle(
                message, attempt, final=fields.get("status") == M.FAILED, now=done)
        if message.endpoint_id:
            _account_endpoint(message.endpoint_id, attempt.ok, done)
        if "status" in fields:
            _nudge_next(message, done)
    return fields.get("status", M.PENDING)


def _account_endpoint(endpoint_id: int, ok: bool, now: datetime) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if ok:
        if endpoint.consecutive_failures:
            endpoint.consecutive_failures = 0
            endpoint.save(update_fields=["consecutive_failures"])
        return
    endpoint.consecutive_failures += 1
    if endpoint.active and endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES:
        endpoint.active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = webhooks.disabled_reason(endpoint.consecutive_failures)
        OutboxMessage.objects.filter(endpoint=endpoint, status=M.PENDING).update(
            status=M.CANCELLED, last_error=webhooks.ENDPOINT_DISABLED)
        endpoint_disabled.send(sender=WebhookEndpoint, endpoint=endpoint)
    endpoint.save(update_fields=["consecutive_failures", "active", "disabled_at",
                                 "disabled_reason"])


def due_messages(*, now: datetime | None = None) -> QuerySet[OutboxMessage]:
    """Pending messages due for an attempt, except those waiting for an earlier message of
    their ordering."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(
        Q(sending_until__isnull=True) | Q(sending_until__lt=now),
        ~Exists(_earlier_pending()),
        status=M.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at", "pk")


def stuck_messages(*, now: datetime | None = None,
                   older_than: timedelta = timedelta(minutes=15)) -> QuerySet[OutboxMessage]:
    """Pending for long, or given up: what an operator of the platform should look at.
    A message never tried and not due (a dataset release held for its embargo or for the
    SME's consent: ``NotNow``) is waiting on purpose, not stuck."""
    now = now or timezone.now()
    held = Q(attempts=0) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__gt=now))
    return OutboxMessage.objects.filter(
        Q(status=M.FAILED) | (Q(status=M.PENDING, created__lt=now - older_than) & ~held))


def retry(message: OutboxMessage) -> bool:
    """Put a failed (or stuck) message back in the queue, due now, with its attempts
    starting again from zero (the log of earlier attempts stays); it is sent after
    commit. False when the message is sent or cancelled (nothing to retry)."""
    if not OutboxMessage.objects.filter(pk=message.pk, status__in=(M.FAILED, M.PENDING)).update(
            status=M.PENDING, attempts=0, next_attempt_at=timezone.now(), sending_until=None):
        return False
    enqueue_on_commit(deliver_outbox_message, message.pk)
    return True


def purge_delivery_logs(*, now: datetime | None = None) -> int:
    """Delete delivery-log rows older than ``OUTBOX_LOG_RETENTION_DAYS``; returns how
    many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_LOG_RETENTION_DAYS)
    deleted, _ = DeliveryLog.objects.filter(at__lt=cutoff).delete()
    return deleted
