"""Reads about sharing: which agreements are active and cover a trial, who may decide on
consent, and what each organisation may see of agreements and releases."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from organizations.models import Membership, Organization

from ..models import DatasetRelease, SharingAgreement, Trial

R = DatasetRelease.Status


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


def agreement_consents(agreement: SharingAgreement) -> QuerySet:
    """Every consent given under ``agreement`` (revoked ones too), newest first, with the
    SME, the trial's equipment and the version consented to. The caller has read the
    agreement through ``agreements_visible_to``."""
    from ..models import Consent

    return (Consent.objects.filter(agreement=agreement)
            .select_related("trial__booking__organization", "trial__booking__equipment",
                            "version", "granted_by", "revoked_by")
            .order_by("-granted_at", "-pk"))
