"""Portal forms: sign-up (which registers a new SME or joins the organisation that sent an
invitation) and inviting a colleague."""

from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ValidationFailed
from core.forms import add_errors

from . import services
from .models import Invitation, Membership, Organization
from .selectors import invitation_by_token

# The invitation a visitor opened before signing up (its token), kept in their session.
INVITATION_SESSION_KEY = "portal_invitation_token"


def pending_invitation(request) -> Invitation | None:
    token = request.session.get(INVITATION_SESSION_KEY) if request is not None else None
    invitation = invitation_by_token(token) if token else None
    return invitation if invitation is not None and invitation.is_open() else None


class SignupForm(AllauthSignupForm):
    """allauth's sign-up plus the organisation: a new SME (unverified until platform staff
    check it) or, with the invited address, the organisation that sent the invitation."""

    organization_name = forms.CharField(
        label=_("Organisation name"), max_length=200, required=False,
        help_text=_("Your company. Platform staff check new organisations before they can "
                    "book; you can browse at once."))
    credit_code = forms.CharField(
        label=_("Unified social credit code (optional)"), max_length=25, required=False,
        help_text=_("统一社会信用代码: 18 characters. It speeds up verification."))

    field_order = ["email", "organization_name", "credit_code", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = pending_invitation(getattr(context, "request", None))
        if self.invitation is not None:
            self.fields["email"].initial = self.invitation.email
            self.fields["organization_name"].help_text = _(
                "Leave empty to join %(organization)s, which invited you.") % {
                "organization": self.invitation.organization.name}
        self.new_sme = None

    def joins_invitation(self) -> bool:
        email = (self.cleaned_data.get("email") or "").lower()
        return (self.invitation is not None and email == self.invitation.email.lower()
                and not self.cleaned_data.get("organization_name"))

    def clean(self):
        data = super().clean()
        if self.errors or self.joins_invitation():
            return data
        try:
            services.check_new_sme(name=data.get("organization_name") or "",
                                   credit_code=data.get("credit_code") or "")
        except ValidationFailed as exc:
            add_errors(self, exc)
        return data

    def save(self, request):
        with transaction.atomic():
            user = super().save(request)
            if self.joins_invitation():
                services.accept_invitation(token=self.invitation.token, user=user)
            else:
                services.register_sme(user=user, name=self.cleaned_data["organization_name"],
                                      credit_code=self.cleaned_data.get("credit_code") or "")
        request.session.pop(INVITATION_SESSION_KEY, None)
        return user


R, K = Membership.Role, Organization.Kind
# What each role does, in each kind of organisation (the invitation form's choices).
ROLE_DESCRIPTIONS = {
    (K.SME, R.MEMBER): _("Member: books equipment and sees results"),
    (K.SME, R.ADMIN): _("Administrator: also invites colleagues"),
    (K.FLAGSHIP, R.OPERATOR): _("Operator: runs the console and receives its e-mails"),
    (K.FLAGSHIP, R.MEMBER): _("Member: uses the console, without its e-mails"),
    (K.FLAGSHIP, R.ADMIN): _("Administrator: also manages API keys and colleagues"),
    (K.UNIVERSITY, R.MEMBER): _("Member: reads the datasets released to you"),
    (K.UNIVERSITY, R.ADMIN): _("Administrator: also invites colleagues"),
}


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        roles = services.roles_of(organization)
        self.fields["role"].choices = [
            (role, ROLE_DESCRIPTIONS.get((organization.kind, role), R(role).label))
            for role in sorted(roles, key=lambda role: role == R.ADMIN)]
        self.fields["role"].initial = R.OPERATOR if R.OPERATOR in roles else R.MEMBER


class MemberRoleForm(forms.Form):
    """A member's new role, among those of the organisation's kind (and the role they hold,
    shown as it is even where the kind no longer gives it, so nothing else is preselected)."""

    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, organization: Organization, current: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        roles = list(services.roles_of(organization))
        if current and current not in roles:
            roles.append(current)
        self.fields["role"].choices = [(role, R(role).label) for role in roles]


class ConsentRightsForm(forms.Form):
    members_may_consent = forms.BooleanField(
        label=_("Members may consent to sharing their own trials' data"), required=False,
        help_text=_("Off: only administrators consent. Standing consent for all trials and "
                    "revoking a consent always need an administrator."))
