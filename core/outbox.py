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
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at 1 hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


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


def _claim(message_id: int, now: datetime) -> OutboxMessage | str:
    """The message, leased for one attempt; or why not: "skipped" (not pending, being sent,
    endpoint gone) or "waiting" (an earlier message of its ordering is still pending).

    The row lock is waited for at most ``DB_LOCK_TIMEOUT_MS`` (``core.db.locked``): whoever
    holds it is sending or settling the message, so a wait that runs out is "skipped" too
    (a message left pending is sent by the next nudge or the sweep)."""
    try:
        return _claim_locked(message_id, now)
    except Busy:
        return "skipped"


def _claim_locked(message_id: int, now: datetime) -> OutboxMessage | str:
    with transaction.atomic():
        message = db.locked_one(OutboxMessage.objects.select_related("endpoint")
                                .filter(pk=message_id), of=("self",))
        if message is None or message.status != M.PENDING:
            return "skipped"
        if message.sending_until and message.sending_until > now:
            return "skipped"  # another worker is sending it right now
        if message.channel == OutboxMessage.Channel.WEBHOOK and (
                message.endpoint is None or not message.endpoint.active):
            message.status, message.last_error = M.CANCELLED, "endpoint disabled or removed"
            message.save(update_fields=["status", "last_error"])
            return "skipped"
        if _waits_for_earlier(message):
            return "waiting"  # sent when the earlier one is done (``_nudge_next``)
        message.attempts += 1
        message.sending_until = now + LEASE
        message.save(update_fields=["attempts", "sending_until"])
        return message


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


def _send_webhook(message: OutboxMessage) -> Attempt:
    result = webhooks.deliver(url=message.endpoint.url, secret=message.endpoint.secret,
                              msg_id=message.message_id, event_type=message.event_type,
                              data=message.payload["data"])
    return Attempt(result.ok, result.status_code, result.error, result.response_excerpt,
                   result.duration_ms)


def deliver(*, message_id: int, now: datetime | None = None) -> str:
    """One attempt at sending a message; returns its status afterwards ("skipped" or
    "waiting" when no attempt was made, see ``_claim``)."""
    message = _claim(message_id, now or timezone.now())
    if isinstance(message, str):
        return message
    attempt = (_send_email(message) if message.channel == OutboxMessage.Channel.EMAIL
               else _send_webhook(message))
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
        endpoint.disabled_reason = (f"{endpoint.consecutive_failures} deliveries in a row "
                                    "failed")
        OutboxMessage.objects.filter(endpoint=endpoint, status=M.PENDING).update(
            status=M.CANCELLED, last_error="endpoint disabled")
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
    """Pending for long, or given up: what an operator of the platform should look at."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(
        Q(status=M.FAILED) | Q(status=M.PENDING, created__lt=now - older_than))


def retry(message: OutboxMessage) -> None:
    """Put a failed (or stuck) message back in the queue, due now."""
    OutboxMessage.objects.filter(pk=message.pk, status__in=(M.FAILED, M.PENDING)).update(
        status=M.PENDING, next_attempt_at=timezone.now(), sending_until=None)
