"""Delivering dataset releases to universities, through the outbox (invariant 4).

Each release has one outbox message (channel ``prepared``, event ``dataset.released``,
its ``webhook_id`` as the message id): the outbox owns the lease, the attempts, the
backoff, the log of every attempt (``DeliveryLog``) and the retry. This module is the
``Preparer`` the outbox calls back: right before every attempt, under the release's row
lock, it re-checks eligibility and the consented terms and builds the package once
(``prepare``); after the attempt it records the outcome on the release (``settle``):
delivered with its receipt, or the error tenants may read, or — after the last attempt —
failed, with the operator and platform staff told once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.files import File
from django.db.models import QuerySet

from core import db, outbox, webhooks
from core.models import OutboxMessage

from .. import notifications, packages, terms
from ..models import Consent, DatasetRelease, SharingAgreement, Trial
from .selectors import covers, is_active

R = DatasetRelease.Status
EVENT_TYPE = notifications.DATASET_RELEASED
MAX_DELIVERY_ATTEMPTS = outbox.MAX_ATTEMPTS


def new_release(*, trial_id: int, agreement: SharingAgreement, consent: Consent,
                now: datetime) -> DatasetRelease:
    """A pending release with its outbox message (not nudged: the caller sends what is
    due). Caller holds a transaction."""
    webhook_id = webhooks.new_message_id()
    message = outbox.queue_prepared(
        event_type=EVENT_TYPE, dedupe_key=f"dataset-release:{trial_id}:{agreement.pk}",
        recipient=agreement.endpoint_url, message_id=webhook_id,
        payload={"trial": trial_id, "agreement": agreement.pk}, nudge=False, now=now)
    # Bound to the recipient the SME consented to, never to whoever the agreement names
    # later.
    return DatasetRelease.objects.create(
        trial_id=trial_id, agreement=agreement, consent=consent,
        recipient_id=consent.version.terms["university"], webhook_id=webhook_id,
        message=message)


def wake(releases: QuerySet[DatasetRelease], now: datetime) -> int:
    """The pending messages of ``releases`` become due now (e.g. the terms they waited
    for are consented to): the next attempt decides."""
    return OutboxMessage.objects.filter(
        dataset_release__in=releases, status=OutboxMessage.Status.PENDING
    ).update(next_attempt_at=now)


def stop(releases: QuerySet[DatasetRelease], reason: str) -> int:
    """Cancel the pending messages of ``releases`` (they are withdrawn). Message rows
    before release rows: the order the outbox's claim locks them in."""
    return OutboxMessage.objects.filter(
        dataset_release__in=releases, status=OutboxMessage.Status.PENDING
    ).update(status=OutboxMessage.Status.CANCELLED, next_attempt_at=None, last_error=reason)


def due_messages(now: datetime | None = None) -> list[int]:
    """Ids of the release messages due for an attempt."""
    return list(outbox.due_messages(now=now).filter(
        channel=OutboxMessage.Channel.PREPARED, event_type=EVENT_TYPE
    ).values_list("pk", flat=True))


def _eligible(release: DatasetRelease, now: datetime) -> str:
    """Why the release may never go out ('' when it may, terms and embargo permitting)."""
    trial, agreement = release.trial, release.agreement
    if not is_active(agreement, now):
        return "agreement not active"
    if not covers(agreement, trial):
        return "agreement does not cover the equipment"
    if trial.status != Trial.Status.COLLECTED:
        return "results not collected"
    if not Consent.objects.filter(trial=trial, agreement=agreement,
                                  revoked_at__isnull=True).exists():
        return "no consent"
    return ""


def public_error(attempt: outbox.Attempt) -> str:
    """The failure as tenants may read it: the status code, or the kind of failure — never
    the remote's words (those stay in the DeliveryLog, for staff)."""
    if attempt.status_code:
        return f"HTTP {attempt.status_code}"
    kind = attempt.error.split(":", 1)[0].strip()
    return kind[:100] if kind.isidentifier() else "delivery_failed"


class ReleaseDelivery:
    """The outbox's ``Preparer`` for ``dataset.released`` (registered by TrialsConfig)."""

    def prepare(self, message: OutboxMessage, now: datetime) -> outbox.Prepared | outbox.NotNow:
        """Under the release's row lock (bounded: a wait that runs out leaves the message
        for a later attempt): re-check eligibility and the consented terms, build the
        package once; what to send, or why nothing is sent now."""
        release = db.locked_one(
            DatasetRelease.objects.select_related(
                "agreement__hub", "trial__booking__equipment__hub__operator",
                "trial__booking__equipment__category", "trial__booking__organization")
            .filter(message=message), of=("self",))
        if release is None:
            return outbox.NotNow(cancel="release removed")
        if release.status in (R.DELIVERED, R.WITHDRAWN):
            return outbox.NotNow(cancel="already settled")
        # Failed, yet its message is pending again: staff retried it (here or in the
        # outbox's console); it is pending until this run of attempts settles it.
        release.status = R.PENDING
        reason = _eligible(release, now)
        if reason:
            release.status, release.withdrawn_reason = R.WITHDRAWN, reason
            release.save(update_fields=["status", "withdrawn_reason"])
            return outbox.NotNow(cancel=reason)
        consent = (Consent.objects.select_related("version")
                   .get(trial=release.trial, agreement=release.agreement,
                        revoked_at__isnull=True))
        equipment = release.trial.booking.equipment
        bound, hold = terms.binding(consent.version.terms, release.agreement.terms(),
                                    hub_id=equipment.hub_id, category_id=equipment.category_id)
        if bound is None:  # waits for the SME's consent to the new terms (``wake``)
            release.held = hold
            release.save(update_fields=["status", "held"])
            return outbox.NotNow()
        release_on = release.trial.booking.end + timedelta(days=bound["embargo_days"])
        if now < release_on:
            release.held = terms.EMBARGO
            release.save(update_fields=["status", "held"])
            return outbox.NotNow(until=release_on)
        if release.recipient_id != bound["university"]:
            # Never delivered (that is settled above): the SME's consent to new terms
            # names another university; the release goes to that one only, built afresh.
            release.recipient_id = bound["university"]
        if release.sha256 and release.terms != bound:  # built under other terms: build again
            release.package.delete(save=False)
            release.sha256 = ""
        if not release.sha256:
            release.terms = bound
            built = packages.build(release)
            release.package.save(f"release-{release.pk}.zip", File(built.file), save=False)
            release.sha256, release.size, release.row_count = built.sha256, built.size, built.rows
        release.consent, release.held = consent, ""
        release.save()
        agreement = release.agreement
        return outbox.Prepared(
            url=agreement.endpoint_url, secret=agreement.signing_secret, hub=agreement.hub,
            data={"release": release.pk, "sha256": release.sha256, "size": release.size,
                  "rows": release.row_count, "license": release.terms["license"],
                  "agreement": release.agreement_id,
                  "package_url": f"/api/v1/datasets/{release.pk}/package/",
                  **packages.metadata(release)})

    def settle(self, message: OutboxMessage, attempt: outbox.Attempt, *, final: bool,
               now: datetime) -> None:
        release = (DatasetRelease.objects.select_for_update(of=("self",))
                   .select_related("agreement", "recipient", "trial")
                   .filter(message=message).first())
        if release is None or release.status == R.WITHDRAWN:
            return  # withdrawn while the attempt was in flight: it stays withdrawn
        if attempt.ok:
            release.status, release.delivered_at, release.last_error = R.DELIVERED, now, ""
            release.receipt = {"status": attempt.status_code, "body": attempt.response_excerpt,
                               "at": now.isoformat()}
        else:
            release.last_error = public_error(attempt)
            if final:
                release.status = R.FAILED
        release.save(update_fields=["status", "delivered_at", "last_error", "receipt"])
        if attempt.ok:
            notifications.dataset_released(release)
        elif final:
            notifications.release_failed(release, error=release.last_error,
                                         attempts=message.attempts, at=now)


def register() -> None:
    outbox.register_preparer(EVENT_TYPE, ReleaseDelivery())
