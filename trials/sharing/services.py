"""Sharing trial results with partner universities (invariant 4): agreements, consent and
the releases they open.

A trial's data reaches a university only under an active agreement that covers the
equipment's hub and category, with the SME's un-revoked consent, after the embargo,
anonymised as agreed; each release is delivered exactly once. Eligibility is checked when
a release is created and again, under its row lock, right before every delivery attempt
(``sharing.delivery``, called back by the outbox).

Consent binds its terms (invariant 7): every change of a term makes a new
``AgreementVersion``; consents stay bound to the version they were given under, and a
release is built under the stricter of the consented and the current terms — or held until
the SME consents again where there is no stricter (licence, recipient, scope); see
``trials.terms``.

Delivery gives up after ``MAX_DELIVERY_ATTEMPTS``; the release is then FAILED, the operator
and platform staff are e-mailed once, and staff may ``retry_release`` (attempts start
again from zero; the log of earlier attempts stays).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core import db, outbound, outbox, webhooks
from core.errors import ValidationFailed, full_clean
from core.models import OutboxMessage
from core.tasks import enqueue_on_commit
from equipment.models import Category, Hub
from organizations.errors import NOT_OPERATOR, NOT_SME, WRONG_ORGANIZATION_KIND
from organizations.models import Organization

from .. import errors, notifications, terms
from ..models import (
    AgreementVersion,
    Consent,
    DatasetRelease,
    SharingAgreement,
    StandingConsent,
    Trial,
)
from . import delivery
from .selectors import (
    active_agreements,
    agreements_visible_to,
    covers,
    may_consent,
    may_revoke,
)

logger = logging.getLogger(__name__)
R = DatasetRelease.Status
# Term changes a release waits on until the SME consents to the new terms.
HELD_FOR_CONSENT = (terms.LICENSE_CHANGED, terms.RECIPIENT_CHANGED, terms.SCOPE_CHANGED)


# --- agreements -------------------------------------------------------------------------

def create_agreement(*, operator: Organization, university: str, hub: str,
                     categories: list[str], endpoint_url: str, valid_from: datetime,
                     valid_until: datetime | None = None, anonymize: bool = True,
                     shift_timestamps: bool = False, embargo_days: int = 30,
                     license: str = "CC-BY-4.0", title: str = "") -> SharingAgreement:
    """The operator offers a university its hub's trial data; returns the agreement with
    its freshly made signing secret (shown to the operator once)."""
    if operator.kind != Organization.Kind.FLAGSHIP:
        raise NOT_OPERATOR.error()
    violations = []
    uni = Organization.objects.filter(slug=university, kind=Organization.Kind.UNIVERSITY).first()
    if uni is None:
        violations.append(errors.UNKNOWN_UNIVERSITY.violation())
    hub_row = Hub.objects.filter(slug=hub, operator=operator).first()
    if hub_row is None:
        violations.append(errors.UNKNOWN_HUB.violation())
    cats = list(Category.objects.filter(slug__in=categories))
    missing = sorted(set(categories) - {c.slug for c in cats})
    if missing:
        violations.append(errors.UNKNOWN_CATEGORY.violation(categories=", ".join(missing)))
    elif not categories:
        violations.append(errors.NO_CATEGORY.violation())
    try:  # the delivery address passes the outbound guard (under the hub's allowances)
        outbound.check_url(endpoint_url, hub=hub_row, field="endpoint_url")
    except outbound.OutboundRefused as exc:
        violations += exc.violations
    if violations:
        raise ValidationFailed(violations)
    agreement = SharingAgreement(
        operator=operator, university=uni, hub=hub_row, title=title, anonymize=anonymize,
        shift_timestamps=shift_timestamps, embargo_days=embargo_days, license=license,
        endpoint_url=endpoint_url, signing_secret=webhooks.new_secret(),
        valid_from=valid_from, valid_until=valid_until)
    full_clean(agreement)  # refusals as ValidationFailed: every door shows them at a field
    with transaction.atomic():
        agreement.save()
        agreement.categories.set(cats)
        AgreementVersion.objects.create(agreement=agreement, number=agreement.version,
                                        terms=agreement.terms())
    return agreement


def update_agreement(*, agreement: SharingAgreement, by: Organization, data: dict,
                     categories: list[str] | None = None, university: str | None = None,
                     hub: str | None = None, now: datetime | None = None) -> SharingAgreement:
    """Changes the agreement. A change of any term (see ``SharingAgreement.terms``) makes a
    new version: consents stay bound to theirs, and the SMEs that consented under an
    earlier version are asked to consent to the new terms. Other fields (title,
    endpoint, validity) change in place."""
    require_agreement_operator(agreement=agreement, by=by)
    if agreement.revoked_at:
        raise errors.AGREEMENT_REVOKED.error()
    now = now or timezone.now()
    data = dict(data)
    violations = []
    if university is not None:
        data["university"] = Organization.objects.filter(
            slug=university, kind=Organization.Kind.UNIVERSITY).first()
        if data["university"] is None:
            violations.append(errors.UNKNOWN_UNIVERSITY.violation())
    if hub is not None:
        data["hub"] = Hub.objects.filter(slug=hub, operator_id=agreement.operator_id).first()
        if data["hub"] is None:
            violations.append(errors.UNKNOWN_HUB.violation())
    if violations:
        raise ValidationFailed(violations)
    if "endpoint_url" in data or data.get("hub") is not None:  # the outbound guard
        outbound.check_url(data.get("endpoint_url", agreement.endpoint_url),
                           hub=data.get("hub") or agreement.hub, field="endpoint_url")
    with transaction.atomic():
        locked = db.locked_one(SharingAgreement.objects.filter(pk=agreement.pk))
        if locked is None:
            raise errors.AGREEMENT_NOT_FOUND.error()
        if locked.revoked_at:
            raise errors.AGREEMENT_REVOKED.error()
        before = locked.current_version()
        for key, value in data.items():
            setattr(locked, key, value)
        full_clean(locked)
        locked.save()
        if categories is not None:
            cats = list(Category.objects.filter(slug__in=categories))
            if len(cats) != len(set(categories)):
                raise errors.UNKNOWN_CATEGORY.error(categories=", ".join(
                    sorted(set(categories) - {c.slug for c in cats})))
            locked.categories.set(cats)
        after = locked.terms()
        if terms.changed(before.terms, after):
            locked.version = before.number + 1
            locked.save(update_fields=["version"])
            version = AgreementVersion.objects.create(agreement=locked, number=locked.version,
                                                      terms=after)
            _ask_for_new_consent(locked, version)
            # A release held for new consent may go if the terms are back to the consented
            # ones; the next attempt decides.
            delivery.wake(DatasetRelease.objects.filter(
                agreement=locked, status=R.PENDING, held__in=HELD_FOR_CONSENT), now)
    return locked


def _ask_for_new_consent(agreement: SharingAgreement, version: AgreementVersion) -> None:
    """Tell every SME holding a consent (per trial or standing) under an earlier version."""
    older = Q(revoked_at__isnull=True, agreement=agreement, version__number__lt=version.number)
    organization_ids = set(Consent.objects.filter(older).values_list(
        "trial__booking__organization_id", flat=True))
    organization_ids |= set(StandingConsent.objects.filter(older).values_list(
        "organization_id", flat=True))
    for organization_id in sorted(organization_ids):
        notifications.agreement_terms_changed(agreement=agreement, version=version,
                                              organization_id=organization_id)


def require_agreement_operator(*, agreement: SharingAgreement, by: Organization) -> None:
    """Only the operator that gave the agreement changes or revokes it. An organisation
    that sees it otherwise (its university; SMEs, which read the terms) is refused (403),
    any other does not see it (404). The API asks this before it reads the body."""
    if agreement.operator_id == by.pk:
        return
    if agreements_visible_to(by).filter(pk=agreement.pk).exists():
        raise WRONG_ORGANIZATION_KIND.error(kinds=Organization.Kind.FLAGSHIP)
    raise errors.AGREEMENT_NOT_FOUND.error()


def revoke_agreement(*, agreement: SharingAgreement, by: Organization,
                     now: datetime | None = None) -> SharingAgreement:
    """Ends the agreement; releases not yet delivered are withdrawn."""
    require_agreement_operator(agreement=agreement, by=by)
    now = now or timezone.now()
    with transaction.atomic():
        if agreement.revoked_at is None:
            agreement.revoked_at = now
            agreement.save(update_fields=["revoked_at"])
        _withdraw(DatasetRelease.objects.filter(agreement=agreement), "agreement revoked")
    return agreement


def _withdraw(releases: QuerySet[DatasetRelease], reason: str) -> int:
    releases = releases.exclude(status__in=(R.DELIVERED, R.WITHDRAWN))
    delivery.stop(releases, reason)
    return releases.update(status=R.WITHDRAWN, withdrawn_reason=reason)


# --- consent ---------------------------------------------------------------------------

def _require_consent_right(organization: Organization, user, *, standing: bool,
                           trial: Trial | None = None, revoking: bool = False) -> None:
    allowed = (may_revoke(organization=organization, user=user) if revoking else
               may_consent(organization=organization, user=user, standing=standing, trial=trial))
    if not allowed:
        raise (errors.STANDING_CONSENT_NEEDS_ADMIN if standing else
               errors.REVOKING_NEEDS_ADMIN if revoking else errors.CONSENT_NEEDS_ADMIN).error()


def grant_consent(*, trial: Trial, agreement_id: int, organization: Organization,
                  by_user=None, now: datetime | None = None, standing: bool = False) -> Consent:
    """The booking's SME consents to releasing this trial under the agreement's current
    terms. An active consent under an earlier version of the terms is replaced (consent to
    the new terms); releases held for it are looked at again."""
    now = now or timezone.now()
    if trial.booking.organization_id != organization.pk:
        raise errors.NOT_TRIAL_OWNER.error()
    _require_consent_right(organization, by_user, standing=False, trial=trial)
    from ..tasks import release_due_datasets  # tasks import this module

    try:
        with transaction.atomic():
            # The agreement's row lock (as ``update_agreement`` takes it) while the version
            # is read and the consent made: a change of terms either comes first (this
            # consent is to the new terms) or sees this consent (and asks for new consent).
            agreement = db.locked_one(active_agreements(now).filter(pk=agreement_id))
            if agreement is None or not covers(agreement, trial):
                raise errors.AGREEMENT_NOT_APPLICABLE.error()
            version = agreement.current_version()
            existing = Consent.objects.filter(trial=trial, agreement=agreement,
                                              revoked_at__isnull=True).first()
            if existing and existing.version_id == version.pk:
                return existing
            if existing:  # superseded by the consent to the current terms
                Consent.objects.filter(pk=existing.pk, revoked_at__isnull=True).update(
                    revoked_at=now, revoked_by=by_user)
            consent = Consent.objects.create(trial=trial, agreement=agreement,
                                             granted_by=by_user, granted_at=now,
                                             standing=standing, version=version)
            delivery.wake(DatasetRelease.objects.filter(
                trial=trial, agreement=agreement, status=R.PENDING,
                held__in=HELD_FOR_CONSENT), now)
            # If the embargo is already over, the release goes out without waiting for
            # the sweep.
            enqueue_on_commit(release_due_datasets, trial.pk)
            return consent
    except IntegrityError:  # a concurrent grant won; the consent exists either way
        return Consent.objects.get(trial=trial, agreement=agreement, revoked_at__isnull=True)


def revoke_consent(*, consent: Consent, organization: Organization, by_user=None,
                   now: datetime | None = None) -> Consent:
    """Stops every release of the trial under that agreement not yet delivered. Revoking
    needs the SME's administrator (or its API key), as standing consent does."""
    booking = consent.trial.booking
    if booking.organization_id != organization.pk:
        # The hub's operator sees the consent but may not revoke it; others do not see it.
        operator = booking.equipment.hub.operator_id == organization.pk
        raise (errors.NOT_TRIAL_OWNER if operator else errors.CONSENT_NOT_FOUND).error()
    _require_consent_right(organization, by_user, standing=False, revoking=True)
    now = now or timezone.now()
    with transaction.atomic():
        locked = db.locked_one(Consent.objects.filter(pk=consent.pk))
        if locked is None:
            raise errors.CONSENT_NOT_FOUND.error()
        if locked.revoked_at is None:
            locked.revoked_at, locked.revoked_by = now, by_user
            locked.save(update_fields=["revoked_at", "revoked_by"])
        # Revoking a consent already replaced by consent to newer terms leaves that one be.
        if not Consent.objects.filter(trial_id=locked.trial_id, agreement_id=locked.agreement_id,
                                      revoked_at__isnull=True).exists():
            _withdraw(DatasetRelease.objects.filter(trial_id=locked.trial_id,
                                                    agreement_id=locked.agreement_id),
                      "consent revoked")
    return locked


def set_standing_consent(*, organization: Organization, agreement_id: int, by_user=None,
                         now: datetime | None = None) -> StandingConsent:
    """The SME's standing consent under the agreement's current terms: it covers the hub and
    categories of this version only, never ones added later. A standing consent under an
    earlier version is replaced."""
    now = now or timezone.now()
    if organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    _require_consent_right(organization, by_user, standing=True)
    with transaction.atomic():
        # Under the agreement's row lock, as in ``grant_consent``.
        agreement = db.locked_one(active_agreements(now).filter(pk=agreement_id))
        if agreement is None:
            raise errors.AGREEMENT_NOT_FOUND.error()
        version = agreement.current_version()
        current = db.locked_one(StandingConsent.objects.filter(
            organization=organization, agreement=agreement, revoked_at__isnull=True))
        if current is not None and current.version_id == version.pk:
            return current
        if current is not None:
            current.revoked_at = now
            current.save(update_fields=["revoked_at"])
        return StandingConsent.objects.create(organization=organization, agreement=agreement,
                                              granted_by=by_user, granted_at=now,
                                              version=version)


def revoke_standing_consent(*, organization: Organization, agreement_id: int, by_user=None,
                            now: datetime | None = None) -> int:
    if organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    _require_consent_right(organization, by_user, standing=True)
    return StandingConsent.objects.filter(organization=organization, agreement_id=agreement_id,
                                          revoked_at__isnull=True).update(
        revoked_at=now or timezone.now())


# --- releases --------------------------------------------------------------------------

def _apply_standing_consents(agreement: SharingAgreement, trials: QuerySet[Trial],
                             now: datetime) -> None:
    """Consent, on the SME's behalf, to its trials within the scope (hub and categories) of
    the version its standing consent was given under — never a category added later."""
    for standing in StandingConsent.objects.filter(
            agreement=agreement, revoked_at__isnull=True).select_related("version"):
        scope = standing.version.terms
        own = trials.filter(booking__organization_id=standing.organization_id,
                            booking__equipment__hub_id=scope["hub"],
                            booking__equipment__category_id__in=scope["categories"])
        # Only trials with no consent row at all: an explicit revocation is never overridden.
        for trial in own.exclude(consents__agreement=agreement):
            Consent.objects.get_or_create(
                trial=trial, agreement=agreement, revoked_at__isnull=True,
                defaults={"granted_at": now, "standing": True, "version": standing.version,
                          "granted_by": standing.granted_by})
        # Consents it gave under an earlier version follow it to the terms it now stands for.
        for old in Consent.objects.filter(trial__in=own, agreement=agreement, standing=True,
                                          revoked_at__isnull=True,
                                          version__number__lt=standing.version.number):
            with transaction.atomic():
                if Consent.objects.filter(pk=old.pk, revoked_at__isnull=True).update(
                        revoked_at=now):
                    Consent.objects.create(trial_id=old.trial_id, agreement=agreement,
                                           granted_at=now, standing=True,
                                           version=standing.version,
                                           granted_by=standing.granted_by)


def schedule_due_releases(*, now: datetime | None = None,
                          trial_id: int | None = None) -> list[int]:
    """Create a pending release (and its outbox message) for every (trial, agreement) now
    eligible and without one; return the ids of the release messages due for a delivery
    attempt (new or retrying)."""
    now = now or timezone.now()
    for agreement in active_agreements(now).prefetch_related("categories"):
        trials = Trial.objects.filter(
            status=Trial.Status.COLLECTED, booking__equipment__hub_id=agreement.hub_id,
            booking__equipment__category__in=agreement.categories.all(),
            booking__end__lte=now - timedelta(days=agreement.embargo_days))
        if trial_id is not None:
            trials = trials.filter(pk=trial_id)
        _apply_standing_consents(agreement, trials, now)
        due = Consent.objects.filter(
            agreement=agreement, revoked_at__isnull=True, trial__in=trials
        ).exclude(trial__releases__agreement=agreement).select_related("version")
        for given in due:
            try:
                with transaction.atomic():
                    delivery.new_release(trial_id=given.trial_id, agreement=agreement,
                                         consent=given, now=now)
            except IntegrityError:
                pass  # created concurrently: the unique (trial, agreement) holds
    return delivery.due_messages(now)


def retry_release(*, release_id: int, by_staff=None,
                  now: datetime | None = None) -> DatasetRelease:
    """Platform staff try a failed (or retrying) delivery again now: the outbox's retry of
    its message (attempts start again from zero, so it gets the full
    ``MAX_DELIVERY_ATTEMPTS`` with backoff; the log of earlier attempts stays, as does the
    last error until a delivery succeeds)."""
    now = now or timezone.now()
    with transaction.atomic():
        # The message's row before the release's: the order the outbox's claim takes them.
        message_id = (DatasetRelease.objects.filter(pk=release_id)
                      .values_list("message_id", flat=True).first())
        if message_id is not None:
            db.locked_one(OutboxMessage.objects.filter(pk=message_id))
        release = db.locked_one(DatasetRelease.objects.filter(pk=release_id))
        if release is None:
            raise errors.RELEASE_NOT_FOUND.error()
        if release.status in (R.DELIVERED, R.WITHDRAWN):
            raise errors.RELEASE_SETTLED.error(status=release.get_status_display())
        release.status = R.PENDING
        release.save(update_fields=["status"])
        outbox.retry(release.message)
        logger.info("Release %s: delivery retried by %s at %s", release.pk, by_staff, now)
    return release
