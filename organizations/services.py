from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy

from core import db, outbox
from core.errors import NOT_FOUND, full_clean, valid_id
from core.notify import bilingual

from . import errors
from .models import INVITATION_VALIDITY, Invitation, Membership, Organization, OrganizationAPIKey


def create_api_key(*, organization: Organization, name: str,
                   expiry_date: datetime | None = None) -> tuple[OrganizationAPIKey, str]:
    """Create a key for ``organization``; returns the row and the secret, which is never
    stored in clear and cannot be shown again."""
    with transaction.atomic():
        return OrganizationAPIKey.objects.create_key(organization=organization, name=name,
                                                     expiry_date=expiry_date)


def revoke_api_key(*, organization: Organization, prefix: str) -> OrganizationAPIKey:
    key = OrganizationAPIKey.objects.filter(organization=organization, prefix=prefix).first()
    if key is None:
        raise NOT_FOUND.error()
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


# --- platform staff: verification and suspension ---------------------------------------

SUSPENSION_REASON_MAX_LENGTH = Organization._meta.get_field("suspension_reason").max_length


def verify_organization(*, organization: Organization, by, portal_url: str = "",
                        now: datetime | None = None) -> Organization:
    """Platform staff have checked the organisation's identity: it may book. Its
    administrators are e-mailed (once: verifying again changes and sends nothing);
    ``portal_url``, when given, is the link the e-mail offers."""
    with transaction.atomic():
        locked = db.locked_one(Organization.objects.filter(pk=organization.pk))
        if locked is None:
            raise NOT_FOUND.error()
        if not locked.verified:
            locked.verified = True
            locked.verified_at = now or timezone.now()
            locked.verified_by = by if getattr(by, "is_authenticated", False) else None
            locked.save(update_fields=["verified", "verified_at", "verified_by"])
            _queue_decision_email(locked, "verified", dedupe=f"organization-verified:{locked.pk}",
                                  portal_url=portal_url)
    organization.verified = True
    organization.verified_at, organization.verified_by = locked.verified_at, locked.verified_by
    return organization


def suspend_organization(*, organization: Organization, reason: str, by,
                         now: datetime | None = None) -> Organization:
    """Platform staff suspend the organisation: its API keys and its members' portal
    sessions are refused with a message saying so, until it is reinstated. Nothing else
    changes (its bookings, trials and consents are kept as they are)."""
    reason = (reason or "").strip()
    if not reason:
        raise errors.SUSPENSION_REASON_REQUIRED.error()
    if len(reason) > SUSPENSION_REASON_MAX_LENGTH:
        raise errors.SUSPENSION_REASON_TOO_LONG.error(limit=SUSPENSION_REASON_MAX_LENGTH)
    with transaction.atomic():
        locked = db.locked_one(Organization.objects.filter(pk=organization.pk))
        locked.suspended_at = locked.suspended_at or now or timezone.now()
        locked.suspension_reason = reason
        locked.suspended_by = by if getattr(by, "is_authenticated", False) else None
        locked.save(update_fields=["suspended_at", "suspension_reason", "suspended_by"])
    organization.suspended_at = locked.suspended_at
    organization.suspension_reason = locked.suspension_reason
    organization.suspended_by = locked.suspended_by
    return organization


def reinstate_organization(*, organization: Organization, by) -> Organization:
    """Lift a suspension: keys and sessions work again."""
    with transaction.atomic():
        locked = db.locked_one(Organization.objects.filter(pk=organization.pk))
        locked.suspended_at, locked.suspension_reason, locked.suspended_by = None, "", None
        locked.save(update_fields=["suspended_at", "suspension_reason", "suspended_by"])
    organization.suspended_at, organization.suspension_reason = None, ""
    organization.suspended_by = None
    return organization


def set_members_may_consent(*, organization: Organization, allowed: bool,
                            by_user=None, staff_user=None) -> Organization:
    """The SME's administrators (or platform staff) decide whether members may consent to
    sharing their own trials' data; standing consent and revocation stay with the
    administrators."""
    _may_manage(organization, by_user, staff_user)
    if organization.members_may_consent != allowed:
        organization.members_may_consent = allowed
        organization.save(update_fields=["members_may_consent"])
    return organization


# --- members: who belongs to an organisation, and in which role ----------------------

R = Membership.Role
# The roles each kind of organisation gives, the same at every door (invitation, the
# portal's members list, the admin console). Operators (a flagship's) run the console and
# hear about its hubs; a flagship's members use the console without those e-mails.
ROLES = {
    Organization.Kind.FLAGSHIP: (R.ADMIN, R.OPERATOR, R.MEMBER),
    Organization.Kind.SME: (R.ADMIN, R.MEMBER),
    Organization.Kind.UNIVERSITY: (R.ADMIN, R.MEMBER),
}


def roles_of(organization: Organization) -> tuple[str, ...]:
    return ROLES.get(organization.kind, (R.ADMIN, R.MEMBER))


def _require_role(organization: Organization, role: str) -> None:
    allowed = roles_of(organization)
    if role not in allowed:
        raise errors.ROLE_INVALID.error(roles=", ".join(str(R(name).label) for name in allowed))


def _lock_user(user) -> None:
    """Serialises the membership decisions of one person (one organisation each)."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))


def _may_manage(organization: Organization, by_user, staff_user) -> None:
    if staff_user is None or not staff_user.is_staff:
        _require_admin(organization, by_user)


def add_member(*, organization: Organization, user, role: str, staff_user) -> Membership:
    """Platform staff put a person in an organisation (the admin console); everyone else
    joins by invitation. A portal account acts for one organisation."""
    if staff_user is None or not staff_user.is_staff:
        raise errors.NOT_ADMIN.error()
    _require_role(organization, role)
    with transaction.atomic():
        _lock_user(user)
        current = Membership.objects.filter(user=user).select_related("organization").first()
        if current is not None and current.organization_id == organization.pk:
            raise errors.ALREADY_MEMBER.error(field="user")
        if current is not None:
            raise errors.MEMBER_ELSEWHERE.error(organization=current.organization.name)
        return Membership.objects.create(user=user, organization=organization, role=role)


def _locked_member(organization: Organization, membership_id) -> Membership:
    """The membership, under the organisation's row lock (which serialises every change of
    its roles, so two administrators demoting each other cannot leave it with none)."""
    db.locked_one(Organization.objects.filter(pk=organization.pk))
    pk = valid_id(membership_id)
    membership = (db.locked_one(Membership.objects.select_related("user")
                                .filter(organization=organization, pk=pk), of=("self",))
                  if pk is not None else None)
    if membership is None:
        raise errors.MEMBER_NOT_FOUND.error()
    return membership


def _keeps_an_admin(membership: Membership) -> None:
    if membership.role == R.ADMIN and not Membership.objects.filter(
            organization_id=membership.organization_id, role=R.ADMIN,
    ).exclude(pk=membership.pk).exists():
        raise errors.LAST_ADMIN.error()


def change_member_role(*, organization: Organization, membership_id, role: str,
                       by_user=None, staff_user=None) -> Membership:
    """An administrator (or platform staff) gives a member another role; the organisation
    keeps at least one administrator."""
    with transaction.atomic():
        membership = _locked_member(organization, membership_id)
        _may_manage(organization, by_user, staff_user)  # under the lock: still an admin
        if membership.role != role:
            _require_role(organization, role)
            if role != R.ADMIN:
                _keeps_an_admin(membership)
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def remove_member(*, organization: Organization, membership_id, by_user=None,
                  staff_user=None) -> Membership:
    """An administrator (or platform staff) takes a person out of the organisation (a
    member may also leave): their portal account no longer acts for it, the invitations
    they sent and nobody accepted are withdrawn, and the organisation's e-mails about
    what they booked go to its administrators instead. What they booked and ran stays the
    organisation's. The organisation keeps at least one administrator."""
    with transaction.atomic():
        membership = _locked_member(organization, membership_id)
        if by_user is None or membership.user_id != by_user.pk:
            _may_manage(organization, by_user, staff_user)
        _keeps_an_admin(membership)
        Invitation.objects.filter(organization=organization, invited_by=membership.user,
                                  accepted_at__isnull=True, revoked_at__isnull=True,
                                  ).update(revoked_at=timezone.now())
        membership.delete()
    return membership


# --- the portal: sign-up and invitations ------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60].strip("-") or "sme"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def check_new_sme(*, name: str, credit_code: str = "") -> Organization:
    """The unsaved SME a sign-up would register; raises ValidationFailed (fields
    ``organization_name``, ``credit_code``) when it cannot be registered."""
    name = name.strip()
    if not name:
        raise errors.ORGANIZATION_NAME_REQUIRED.error()
    org = Organization(kind=Organization.Kind.SME, name=name, slug=_unique_slug(name),
                       credit_code=credit_code.strip() or None, verified=False)
    if Organization.objects.filter(name__iexact=name).exists():
        # Names are unique whatever the case (constraint ``organization_name_unique_ci``).
        raise errors.ORGANIZATION_REGISTERED.error(field="organization_name")
    if org.credit_code:
        org.credit_code = org.credit_code.replace(" ", "").upper()  # as clean_fields does
        if Organization.objects.filter(credit_code=org.credit_code).exists():
            raise errors.ORGANIZATION_REGISTERED.error()
    full_clean(org, rename={"name": "organization_name"},
               message=gettext_lazy("The organisation cannot be registered."))
    return org


def register_sme(*, user, name: str, credit_code: str = "") -> Membership:
    """A person signing up registers a new SME and becomes its admin. The organisation is
    unverified until platform staff check it: it may browse, and the booking policy
    refuses its bookings until then."""
    org = check_new_sme(name=name, credit_code=credit_code)
    try:
        with transaction.atomic():
            org.save()
            return Membership.objects.create(user=user, organization=org,
                                             role=Membership.Role.ADMIN)
    except IntegrityError as exc:  # registered meanwhile (the unique constraints decide)
        check_new_sme(name=name, credit_code=credit_code)  # says which field clashes
        raise errors.ORGANIZATION_REGISTERED.error(field="organization_name") from exc


def _require_admin(organization: Organization, user) -> None:
    if user is None or not Membership.objects.filter(
            organization=organization, user=user, role=Membership.Role.ADMIN).exists():
        raise errors.NOT_ADMIN.error()


def invite_member(*, organization: Organization, email: str, role: str, by_user,
                  accept_url: Callable[[str], str], now: datetime | None = None) -> Invitation:
    """Invite ``email`` to join the organisation and e-mail the link (``accept_url(token)``).
    Inviting an address again renews the open invitation and sends it again."""
    _require_admin(organization, by_user)
    email = email.strip().lower()
    _require_role(organization, role)
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise errors.ALREADY_MEMBER.error()
    now = now or timezone.now()
    with transaction.atomic():
        invitation = db.locked_one(Invitation.objects.filter(
            organization=organization, email__iexact=email, accepted_at__isnull=True,
            revoked_at__isnull=True))
        if invitation is None:
            invitation = Invitation.objects.create(
                organization=organization, email=email, role=role, invited_by=by_user,
                expires=now + INVITATION_VALIDITY)
        else:
            invitation.role, invitation.invited_by = role, by_user
            invitation.expires = now + INVITATION_VALIDITY
            invitation.save(update_fields=["role", "invited_by", "expires"])
        _queue_invitation(invitation, accept_url(invitation.token))
    return invitation


def _queue_invitation(invitation: Invitation, link: str) -> None:
    """The invitation e-mail, queued in the outbox in the invitation's transaction (sent,
    and retried, by the outbox; once per renewal of the invitation)."""
    context = {"invitation": invitation, "link": link,
               "organization": invitation.organization,
               "inviter": invitation.invited_by}

    def one_language() -> tuple[str, str]:  # the invited person's language is not known
        subject = render_to_string("organizations/email/invitation_subject.txt", context)
        body = render_to_string("organizations/email/invitation_message.txt", context)
        return " ".join(subject.split()), body.strip()

    subject, body = bilingual(one_language)
    outbox.queue_email(event_type="organization.invitation",
                       dedupe_key=f"invitation:{invitation.pk}:{invitation.expires:%Y%m%d%H%M%S%f}",
                       to=invitation.email, subject=subject, body=body)


def revoke_invitation(*, organization: Organization, invitation_id: int, by_user,
                      now: datetime | None = None) -> Invitation:
    _require_admin(organization, by_user)
    invitation = Invitation.objects.filter(organization=organization, pk=invitation_id).first()
    if invitation is None:
        raise errors.INVITATION_NOT_FOUND.error()
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = now or timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def accept_invitation(*, token: str, user, now: datetime | None = None) -> Membership:
    """The invited person joins the organisation. The invitation must be open and made out
    to the user's address; a portal user belongs to one organisation."""
    now = now or timezone.now()
    with transaction.atomic():
        invitation = db.locked_one(Invitation.objects.select_related("organization")
                                   .filter(token=token), of=("self",))
        if invitation is None or not invitation.is_open(now):
            raise errors.INVITATION_INVALID.error()
        if (user.email or "").lower() != invitation.email.lower():
            raise errors.INVITATION_OTHER_EMAIL.error()
        _lock_user(user)
        current = Membership.objects.filter(user=user).select_related("organization").first()
        if current is not None and current.organization_id != invitation.organization_id:
            raise errors.ALREADY_IN_ORGANIZATION.error()
        membership = current or Membership.objects.create(
            user=user, organization=invitation.organization, role=invitation.role)
        invitation.accepted_at, invitation.accepted_by = now, user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


# --- platform staff: the verification decision, recorded and e-mailed ------------------

REFUSAL_REASON_MAX_LENGTH = 500
# The decision is recorded on the organisation itself (verified at/by; refused at/by/why):
# the verification queue leaves out the refused ones, and staff read why on its page.


def refuse_organization(*, organization: Organization, reason: str, by,
                        portal_url: str = "", now: datetime | None = None) -> Organization:
    """Platform staff do not verify the organisation (its identity could not be checked):
    the refusal is recorded (``by``, the staff user; when; why), its administrators are
    e-mailed the reason, and it leaves the verification queue. Nothing else changes: it
    stays unverified (it may browse, not book) and may still be verified later."""
    reason = (reason or "").strip()
    if not reason:
        raise errors.REFUSAL_REASON_REQUIRED.error()
    if len(reason) > REFUSAL_REASON_MAX_LENGTH:
        raise errors.REFUSAL_REASON_TOO_LONG.error(limit=REFUSAL_REASON_MAX_LENGTH)
    now = now or timezone.now()
    with transaction.atomic():
        locked = db.locked_one(Organization.objects.filter(pk=organization.pk))
        if locked is None:
            raise NOT_FOUND.error()
        if locked.verified:
            raise errors.ALREADY_VERIFIED.error()
        locked.verification_refused_at = now
        locked.verification_refusal_reason = reason
        locked.verification_refused_by = by if getattr(by, "is_authenticated", False) else None
        locked.save(update_fields=["verification_refused_at", "verification_refusal_reason",
                                   "verification_refused_by"])
        _queue_decision_email(locked, "refused",
                              dedupe=f"organization-refused:{locked.pk}:{now:%Y%m%d%H%M%S%f}",
                              reason=reason, portal_url=portal_url)
    organization.verification_refused_at = locked.verification_refused_at
    organization.verification_refusal_reason = locked.verification_refusal_reason
    organization.verification_refused_by = locked.verification_refused_by
    return organization


def _decision_recipients(organization: Organization) -> list[str]:
    """The organisation's administrators; all its members when no administrator has an
    address."""
    members = Membership.objects.filter(organization=organization).exclude(user__email="")
    admins = members.filter(role=Membership.Role.ADMIN)
    return list(dict.fromkeys((admins if admins.exists() else members)
                              .values_list("user__email", flat=True)))


def _queue_decision_email(organization: Organization, decision: str, *, dedupe: str,
                          reason: str = "", portal_url: str = "") -> None:
    """The decision e-mail (``organizations/email/<decision>_subject.txt`` and
    ``…_message.txt``) in both languages (a person's language is not recorded), queued in
    the outbox in the decision's transaction."""
    context = {"organization": organization, "reason": reason, "portal_url": portal_url}

    def one_language() -> tuple[str, str]:
        subject = render_to_string(f"organizations/email/{decision}_subject.txt", context)
        body = render_to_string(f"organizations/email/{decision}_message.txt", context)
        return " ".join(subject.split()), body.strip()

    subject, body = bilingual(one_language)
    for address in _decision_recipients(organization):
        outbox.queue_email(event_type=f"organization.{decision}", dedupe_key=dedupe,
                           to=address, subject=subject, body=body)
