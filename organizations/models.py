import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from .validators import validate_credit_code


class Organization(models.Model):
    class Kind(models.TextChoices):
        FLAGSHIP = "flagship", _("Flagship firm (hub operator)")
        SME = "sme", _("Small or medium enterprise")
        UNIVERSITY = "university", _("University")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    credit_code = models.CharField(
        _("unified social credit code"),
        max_length=18,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_credit_code],
        help_text=_("统一社会信用代码: 18 characters, the last one a checksum."),
    )
    verified = models.BooleanField(
        _("verified"), default=False,
        help_text=_("Set by platform staff once the organisation's identity has been checked. "
                    "Unverified SMEs cannot book."),
    )
    members_may_consent = models.BooleanField(
        _("members may consent"),
        default=False,
        help_text=_("Whether members (not only administrators) may consent to sharing their own "
                    "trials' data. Standing consent and revocation always need an administrator."),
    )
    suspended_at = models.DateTimeField(
        _("suspended at"), null=True, blank=True, editable=False,
        help_text=_("Set while the organisation is suspended: its API keys and portal sessions "
                    "are refused; its bookings are kept."),
    )
    suspension_reason = models.CharField(
        _("suspension reason"), max_length=500, blank=True, editable=False,
        help_text=_("Why platform staff suspended the organisation."),
    )
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+", verbose_name=_("suspended by"),
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True, editable=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+", verbose_name=_("verified by"),
    )
    verification_refused_at = models.DateTimeField(
        _("verification refused at"), null=True, blank=True, editable=False,
        help_text=_("Set when platform staff could not verify the organisation; it leaves the "
                    "verification queue and may still be verified later."),
    )
    verification_refusal_reason = models.CharField(
        _("verification refusal reason"), max_length=500, blank=True, editable=False,
    )
    verification_refused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+", verbose_name=_("verification refused by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            # One organisation per name, whatever the case ("ACME" and "Acme" are one).
            # The credit code is unique (when given) through its field.
            models.UniqueConstraint(Lower("name"), name="organization_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    def clean_fields(self, exclude=None):
        if self.credit_code:
            # Codes are printed in capitals; accept them typed in any case or with spaces.
            self.credit_code = self.credit_code.replace(" ", "").upper()
        super().clean_fields(exclude=exclude)


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        OPERATOR = "operator", _("Operator")
        MEMBER = "member", _("Member")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships", verbose_name=_("user"))
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="memberships", verbose_name=_("organisation"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices,
                            default=Role.MEMBER)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
        ]
        ordering = ["organization", "user"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class OrganizationAPIKey(AbstractAPIKey):
    """A hashed API key acting as its organisation. The secret is shown once, at creation."""

    # The library's fields, declared again only to give them translated labels (the
    # library's have none): same columns, same help texts.
    prefix = models.CharField(_("prefix"), max_length=8, unique=True, editable=False)
    hashed_key = models.CharField(_("hashed key"), max_length=150, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    name = models.CharField(_("name"), max_length=50, blank=False, default=None,
                            help_text=AbstractAPIKey._meta.get_field("name").help_text)
    revoked = models.BooleanField(_("revoked"), blank=True, default=False,
                                  help_text=AbstractAPIKey._meta.get_field("revoked").help_text)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="api_keys", verbose_name=_("organisation"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True,
                                        editable=False)

    objects = BaseAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")


INVITATION_VALIDITY = timedelta(days=14)


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


def _invitation_expiry():
    return timezone.now() + INVITATION_VALIDITY


class Invitation(models.Model):
    """An SME admin's invitation for a person to join the organisation. The token travels
    in the e-mailed link; accepting it (after signing up or logging in with the invited
    address) creates the Membership."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="invitations", verbose_name=_("organisation"))
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=16, choices=Membership.Role.choices,
                            default=Membership.Role.MEMBER)
    token = models.CharField(_("token"), max_length=64, unique=True, default=_invitation_token,
                             editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("invited by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    expires = models.DateTimeField(_("expires"), default=_invitation_expiry)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("accepted by"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), "organization",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email"),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role})"

    def is_open(self, now=None) -> bool:
        """Neither accepted, revoked nor expired."""
        now = now or timezone.now()
        return self.accepted_at is None and self.revoked_at is None and self.expires > now
