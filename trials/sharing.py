"""Sharing trial results with partner universities (invariant 4).

A trial's data reaches a university only under an active agreement that covers the
equipment's hub and category, with the SME's un-revoked consent, after the embargo,
anonymised as agreed; each release is delivered exactly once. Eligibility is checked when
a release is created and again, under its row lock, right before every delivery attempt.

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
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core import outbound, webhooks
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, Violation
from core.tasks import enqueue_on_commit
from equipment.models import Category, Hub
from organizations.models import Membership, Organization

from . import notifications, packages, terms
from .models import (
    AgreementVersion,
    Consent,
    DatasetRelease,
    DeliveryAttempt,
    SharingAgreement,
    StandingConsent,
    Trial,
)

logger = logging.getLogger(__name__)
R = DatasetRelease.Status
# Term changes a release waits on until the SME consents to the new terms.
HELD_FOR_CONSENT = (terms.LICENSE_CHANGED, terms.RECIPIENT_CHANGED, terms.SCOPE_CHANGED)
EVENT_TYPE = "dataset.released"
MAX_DELIVERY_ATTEMPTS = 8
LEASE = timedelta(minutes=2)


def delivery_backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at 1 hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


# --- agreements -------------------------------------------------------------------------

def active_agreements(now: datetime | None = None) -> QuerySet[SharingAgreement]:
    now = now or timezone.now()
    return SharingAgreement.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=now),
        revoked_at__isnull=True, valid_from__lte=now)


def is_active(agreement: SharingAgreement, now: datetime) -> bool:
    return (agreement.revoked_at is None and agreement.valid_from <= now
            and (agreement.valid_until is None or agreement.valid_until > now))


def covers(agreement: SharingAgreement, trial: Trial) -> bool:
    equipment = trial.booking.equipment
    return (agreement.hub_id == equipment.hub_id
            and agreement.categories.filter(pk=equipment.category_id).exists())


def create_agreement(*, operator: Organization, university: str, hub: str,
                     categories: list[str], endpoint_url: str, valid_from: datetime,
                     valid_until: datetime | None = None, anonymize: bool = True,
                     shift_timestamps: bool = False, embargo_days: int = 30,
                     license: str = "CC-BY-4.0", title: str = "") -> SharingAgreement:
    """The operator offers a university its hub's trial data; returns the agreement with
    its freshly made signing secret (shown to the operator once)."""
    if operator.kind != Organization.Kind.FLAGSHIP:
        raise Forbidden(_("Only hub operators make sharing agreements."), code="not_operator")
    errors = []
    uni = Organization.objects.filter(slug=university, kind=Organization.Kind.UNIVERSITY).first()
    if uni is None:
        errors.append(("unknown_university", "university", _("No university with this slug.")))
    hub_row = Hub.objects.filter(slug=hub, operator=operator).first()
    if hub_row is None:
        errors.append(("unknown_hub", "hub", _("No hub with this slug among the hubs you run.")))
    cats = list(Category.objects.filter(slug__in=categories))
    missing = sorted(set(categories) - {c.slug for c in cats})
    if missing or not categories:
        errors.append(("unknown_category", "categories",
                       _("Unknown categories: %(categories)s.")
                       % {"categories": ", ".join(missing)} if missing
                       else _("Name at least one equipment category.")))
    try:  # the delivery address passes the outbound guard (under the hub's allowances)
        outbound.check_url(endpoint_url, hub=hub_row, field="endpoint_url")
    except outbound.OutboundRefused as exc:
        errors += [(v.code, v.field, v.message) for v in exc.violations]
    if errors:
        raise ValidationFailed([Violation(*e) for e in errors])
    agreement = SharingAgreement(
        operator=operator, university=uni, hub=hub_row, title=title, anonymize=anonymize,
        shift_timestamps=shift_timestamps, embargo_days=embargo_days, license=license,
        endpoint_url=endpoint_url, signing_secret=webhooks.new_secret(),
        valid_from=valid_from, valid_until=valid_until)
    agreement.full_clean()
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
    if agreement.operator_id != by.pk:
        raise NotFound(_("No such agreement."), code="agreement_not_found")
    if agreement.revoked_at:
        raise Conflict(_("A revoked agreement cannot change."), code="agreement_revoked")
    now = now or timezone.now()
    data = dict(data)
    errors = []
    if university is not None:
        data["university"] = Organization.objects.filter(
            slug=university, kind=Organization.Kind.UNIVERSITY).first()
        if data["university"] is None:
            errors.append(("unknown_university", "university", _("No university with this slug.")))
    if hub is not None:
        data["hub"] = Hub.objects.filter(slug=hub, operator_id=agreement.operator_id).first()
        if data["hub"] is None:
            errors.append(("unknown_hub", "hub",
                           _("No hub with this slug among the hubs you run.")))
    if errors:
        raise ValidationFailed([Violation(*e) for e in errors])
    if "endpoint_url" in data or data.get("hub") is not None:  # the outbound guard
        outbound.check_url(data.get("endpoint_url", agreement.endpoint_url),
                           hub=data.get("hub") or agreement.hub, field="endpoint_url")
    with transaction.atomic():
        locked = SharingAgreement.objects.select_for_update().get(pk=agreement.pk)
        if locked.revoked_at:
            raise Conflict(_("A revoked agreement cannot change."), code="agreement_revoked")
        before = locked.current_version()
        for key, value in data.items():
            setattr(locked, key, value)
        locked.full_clean()
        locked.save()
        if categories is not None:
            cats = list(Category.objects.filter(slug__in=categories))
            if len(cats) != len(set(categories)):
                raise ValidationFailed.single("unknown_category", "categories",
                                              _("Unknown category among those given."))
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
            DatasetRelease.objects.filter(agreement=locked, status=R.PENDING,
                                          held__in=HELD_FOR_CONSENT).update(next_attempt_at=now)
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


def revoke_agreement(*, agreement: SharingAgreement, by: Organization,
                     now: datetime | None = None) -> SharingAgreement:
    """Ends the agreement; releases not yet delivered are withdrawn."""
    if agreement.operator_id != by.pk:
        raise NotFound(_("No such agreement."), code="agreement_not_found")
    now = now or timezone.now()
    with transaction.atomic():
        if agreement.revoked_at is None:
            agreement.revoked_at = now
            agreement.save(update_fields=["revoked_at"])
        _withdraw(DatasetRelease.objects.filter(agreement=agreement), "agreement revoked")
    return agreement


def _withdraw(releases: QuerySet[DatasetRelease], reason: str) -> int:
    return releases.exclude(status__in=(R.DELIVERED, R.WITHDRAWN)).update(
        status=R.WITHDRAWN, withdrawn_reason=reason, next_attempt_at=None)


# --- consent ---------------------------------------------------------------------------

def may_consent(*, organization: Organization, user, standing: bool = False,
                trial: Trial | None = None) -> bool:
    """Who decides on sharing for an SME. An API key acts as the organisation (keys are
    organisation-level, like its administrator); a person needs the administrator role —
    except for consent to one trial of their own (one they requested or lead), which a
    member may give when the organisation allows it (``Organization.members_may_consent``).
    Standing consent and revoking a consent always need the administrator: call with
    ``standing=True`` for those (and with ``trial=None`` for the general right, which a
    member never has)."""
    if user is None:
        return True
    role = (Membership.objects.filter(user=user, organization=organization)
            .values_list("role", flat=True).first())
    if role == Membership.Role.ADMIN:
        return True
    if role is None or standing or trial is None or not organization.members_may_consent:
        return False
    booking = trial.booking
    return user.pk in (booking.requested_by_id, booking.trial_lead_id)


def may_revoke(*, organization: Organization, user) -> bool:
    """Revoking a consent needs the SME's administrator (or its API key), as standing
    consent does — whoever gave the consent."""
    return may_consent(organization=organization, user=user, standing=True)


def _require_consent_right(organization: Organization, user, *, standing: bool,
                           trial: Trial | None = None, revoking: bool = False) -> None:
    allowed = (may_revoke(organization=organization, user=user) if revoking else
               may_consent(organization=organization, user=user, standing=standing, trial=trial))
    if not allowed:
        raise Forbidden(
            _("Only an administrator of your organisation decides on standing consent.")
            if standing else
            _("Only an administrator of your organisation revokes a consent.") if revoking else
            _("Only an administrator of your organisation decides on sharing trial results."),
            code="consent_needs_admin")


def grant_consent(*, trial: Trial, agreement_id: int, organization: Organization,
                  by_user=None, now: datetime | None = None, standing: bool = False) -> Consent:
    """The booking's SME consents to releasing this trial under the agreement's current
    terms. An active consent under an earlier version of the terms is replaced (consent to
    the new terms); releases held for it are looked at again."""
    now = now or timezone.now()
    if trial.booking.organization_id != organization.pk:
        raise Forbidden(_("Only the SME that ran the trial may consent."), code="not_trial_owner")
    _require_consent_right(organization, by_user, standing=False, trial=trial)
    from .tasks import release_due_datasets  # tasks import this module

    try:
        with transaction.atomic():
            # The agreement's row lock (as ``update_agreement`` takes it) while the version
            # is read and the consent made: a change of terms either comes first (this
            # consent is to the new terms) or sees this consent (and asks for new consent).
            agreement = (active_agreements(now).select_for_update()
                         .filter(pk=agreement_id).first())
            if agreement is None or not covers(agreement, trial):
                raise ValidationFailed.single(
                    "agreement_not_applicable", "agreement",
                    _("No active agreement with this id covers this trial's equipment."))
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
            DatasetRelease.objects.filter(trial=trial, agreement=agreement, status=R.PENDING,
                                          held__in=HELD_FOR_CONSENT).update(next_attempt_at=now)
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
    if consent.trial.booking.organization_id != organization.pk:
        raise NotFound(_("No such consent."), code="consent_not_found")
    _require_consent_right(organization, by_user, standing=False, revoking=True)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Consent.objects.select_for_update().get(pk=consent.pk)
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
        raise Forbidden(_("Standing consent is given by SMEs."), code="not_sme")
    _require_consent_right(organization, by_user, standing=True)
    with transaction.atomic():
        # Under the agreement's row lock, as in ``grant_consent``.
        agreement = active_agreements(now).select_for_update().filter(pk=agreement_id).first()
        if agreement is None:
            raise NotFound(_("No such active agreement."), code="agreement_not_found")
        version = agreement.current_version()
        current = (StandingConsent.objects.select_for_update()
                   .filter(organization=organization, agreement=agreement,
                           revoked_at__isnull=True).first())
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
        raise Forbidden(_("Standing consent is given by SMEs."), code="not_sme")
    _require_consent_right(organization, by_user, standing=True)
    return StandingConsent.objects.filter(organization=organization, agreement_id=agreement_id,
                                          revoked_at__isnull=True).update(
        revoked_at=now or timezone.now())


# --- releases --------------------------------------------------------------------------

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
    """Create a pending release for every (trial, agreement) now eligible and without one;
    return the ids of releases due for a delivery attempt (new or retrying)."""
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
                    # Bound to the recipient the SME consented to, never to whoever the
                    # agreement names later.
                    DatasetRelease.objects.create(
                        trial_id=given.trial_id, agreement=agreement, consent=given,
                        recipient_id=given.version.terms["university"],
                        webhook_id=webhooks.new_message_id(), next_attempt_at=now)
            except IntegrityError:
                pass  # created concurrently: the unique (trial, agreement) holds
    return list(DatasetRelease.objects.filter(
        Q(sending_until__isnull=True) | Q(sending_until__lt=now),
        status=R.PENDING, next_attempt_at__lte=now).values_list("pk", flat=True))


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: timedelta | None = None
    detail: str = ""


def _prepare(release_id: int, now: datetime) -> DatasetRelease | DeliveryOutcome:
    """Under the release's row lock: re-check eligibility, build the package once, take
    the sending lease. Returns the release to send, or why nothing is to be sent."""
    with transaction.atomic():
        release = (DatasetRelease.objects.select_for_update(of=("self",))
                   .select_related("agreement", "trial__booking__equipment__hub__operator",
                                   "trial__booking__equipment__category",
                                   "trial__booking__organization")
                   .filter(pk=release_id).first())
        if release is None:
            return DeliveryOutcome("missing")
        if release.status in (R.DELIVERED, R.WITHDRAWN, R.FAILED):
            return DeliveryOutcome(release.status, detail="already settled")
        if release.sending_until and release.sending_until > now:
            return DeliveryOutcome(release.status, detail="another delivery is in flight")
        reason = _eligible(release, now)
        if reason:
            release.status, release.withdrawn_reason = R.WITHDRAWN, reason
            release.save(update_fields=["status", "withdrawn_reason"])
            return DeliveryOutcome(R.WITHDRAWN, detail=reason)
        consent = (Consent.objects.select_related("version")
                   .get(trial=release.trial, agreement=release.agreement,
                        revoked_at__isnull=True))
        equipment = release.trial.booking.equipment
        bound, hold = terms.binding(consent.version.terms, release.agreement.terms(),
                                    hub_id=equipment.hub_id, category_id=equipment.category_id)
        if bound is None:  # waits for the SME's consent to the new terms
            release.held, release.next_attempt_at = hold, None
            release.save(update_fields=["held", "next_attempt_at"])
            return DeliveryOutcome(release.status, detail=hold)
        release_on = release.trial.booking.end + timedelta(days=bound["embargo_days"])
        if now < release_on:
            release.held, release.next_attempt_at = terms.EMBARGO, release_on
            release.save(update_fields=["held", "next_attempt_at"])
            return DeliveryOutcome(release.status, detail=terms.EMBARGO)
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
        release.attempts += 1
        release.sending_until = now + LEASE
        release.save()
        return release


def deliver_release(*, release_id: int, now: datetime | None = None) -> DeliveryOutcome:
    """One delivery attempt of a release (never more than one in flight). Network I/O
    happens outside any transaction."""
    now = now or timezone.now()
    prepared = _prepare(release_id, now)
    if isinstance(prepared, DeliveryOutcome):
        return prepared
    release = prepared
    payload = {"release": release.pk, "sha256": release.sha256, "size": release.size,
               "rows": release.row_count, "license": release.terms["license"],
               "agreement": release.agreement_id,
               "package_url": f"/api/v1/datasets/{release.pk}/package/",
               **packages.metadata(release)}
    result = webhooks.deliver(url=release.agreement.endpoint_url,
                              secret=release.agreement.signing_secret,
                              msg_id=release.webhook_id, event_type=EVENT_TYPE, data=payload,
                              hub=release.agreement.hub)
    done = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            release=release, at=done, webhook_id=release.webhook_id,
            status_code=result.status_code, ok=result.ok, error=result.error,
            response_excerpt=result.response_excerpt, duration_ms=result.duration_ms)
        locked = DatasetRelease.objects.select_for_update().get(pk=release.pk)
        locked.sending_until = None
        if result.ok:
            locked.status, locked.delivered_at, locked.last_error = R.DELIVERED, done, ""
            locked.receipt = {"status": result.status_code, "body": result.response_excerpt,
                              "at": done.isoformat()}
            locked.next_attempt_at = None
        elif locked.attempts >= MAX_DELIVERY_ATTEMPTS:
            locked.status, locked.last_error, locked.next_attempt_at = (
                R.FAILED, public_error(result), None)
        else:
            locked.last_error = public_error(result)
            locked.next_attempt_at = done + delivery_backoff(locked.attempts)
        if locked.status != R.WITHDRAWN:
            locked.save()
        if result.ok:
            notifications.dataset_released(release)
        elif locked.status == R.FAILED:
            notifications.release_failed(
                release, error=locked.last_error,
                attempt=DeliveryAttempt.objects.filter(release=release).count())
    if result.ok:
        return DeliveryOutcome(R.DELIVERED)
    if locked.status == R.FAILED:
        return DeliveryOutcome(R.FAILED, detail=result.error)
    return DeliveryOutcome(R.PENDING, retry_in=delivery_backoff(locked.attempts),
                           detail=result.error)


def public_error(result: webhooks.Delivery) -> str:
    """The failure as tenants may read it: the status code, or the kind of failure — never
    the remote's words (those stay in the DeliveryAttempt log, for staff)."""
    if result.status_code:
        return f"HTTP {result.status_code}"
    kind = result.error.split(":", 1)[0].strip()
    return kind[:100] if kind.isidentifier() else "delivery_failed"


def retry_release(*, release_id: int, by_staff=None,
                  now: datetime | None = None) -> DatasetRelease:
    """Platform staff try a failed (or retrying) delivery again now. Its attempts start
    again from zero, so it gets the full ``MAX_DELIVERY_ATTEMPTS`` with backoff; the log of
    earlier attempts stays, as does the last error until a delivery succeeds."""
    now = now or timezone.now()
    from .tasks import deliver_dataset_release  # tasks import this module

    with transaction.atomic():
        release = DatasetRelease.objects.select_for_update().filter(pk=release_id).first()
        if release is None:
            raise NotFound(_("No such release."), code="release_not_found")
        if release.status in (R.DELIVERED, R.WITHDRAWN):
            raise Conflict(_("This release is %(status)s; there is nothing to retry.")
                           % {"status": release.get_status_display()},
                           code="release_settled")
        release.status, release.attempts, release.next_attempt_at = R.PENDING, 0, now
        release.save(update_fields=["status", "attempts", "next_attempt_at"])
        logger.info("Release %s: delivery retried by %s", release.pk, by_staff)
        enqueue_on_commit(deliver_dataset_release, release.pk)
    return release


def releases_for_university(organization: Organization | None) -> QuerySet[DatasetRelease]:
    """A university sees releases to it — it is their recipient, the university the SME
    consented to, whoever the agreement names now — that are built and not withdrawn, under
    an agreement that is not revoked (revoking takes back the packages not yet fetched)."""
    if organization is None or organization.kind != Organization.Kind.UNIVERSITY:
        return DatasetRelease.objects.none()
    return (DatasetRelease.objects.filter(recipient=organization,
                                          agreement__revoked_at__isnull=True)
            .exclude(status=R.WITHDRAWN).exclude(sha256="")
            .select_related("agreement", "trial__booking__equipment__hub__operator",
                            "trial__booking__equipment__category",
                            "trial__booking__organization"))


def agreements_visible_to(organization: Organization | None) -> QuerySet[SharingAgreement]:
    """Operators see the agreements they gave, universities those they hold; SMEs see the
    active ones (the terms they may consent to)."""
    qs = SharingAgreement.objects.select_related("operator", "university", "hub"
                                                 ).prefetch_related("categories")
    if organization is None:
        return qs.none()
    kind = organization.kind
    if kind == Organization.Kind.FLAGSHIP:
        return qs.filter(operator=organization)
    if kind == Organization.Kind.UNIVERSITY:
        return qs.filter(university=organization)
    return active_agreements().filter(pk__in=qs.values("pk")).select_related(
        "operator", "university", "hub").prefetch_related("categories")
