"""Portal pages of an organisation (of any kind): its members and invitations
(administrators invite and withdraw invitations, change roles and remove members; anyone
may leave), and the page an invited person opens from the e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors

from . import selectors, services
from .forms import INVITATION_SESSION_KEY, ConsentRightsForm, InviteForm, MemberRoleForm
from .models import Organization
from .portal import (
    is_admin,
    not_found_as_404,
    organization_of,
    organization_required,
    sme_required,
)


def _page(request, form: InviteForm | None = None, status: int = 200, rights_form=None):
    organization = request.organization
    admin = is_admin(request)
    if rights_form is None:
        rights_form = ConsentRightsForm(
            initial={"members_may_consent": organization.members_may_consent})
    members = list(selectors.members_of(organization=organization).order_by("user__email"))
    if admin:
        for membership in members:
            membership.role_form = MemberRoleForm(organization=organization,
                                                  current=membership.role,
                                                  initial={"role": membership.role},
                                                  prefix=f"m{membership.pk}")
    return render(request, "organizations/organization.html", {
        "organization": organization,
        "is_sme": organization.kind == Organization.Kind.SME,
        "members": members,
        "invitations": selectors.open_invitations(organization=organization) if admin else [],
        "is_admin": admin, "form": form or InviteForm(organization=organization),
        "rights_form": rights_form,
    }, status=status)


@organization_required
def organization_page(request):
    return _page(request)


@organization_required
@require_POST
def invite(request):
    form = InviteForm(request.POST, organization=request.organization)
    if not form.is_valid():
        return _page(request, form)

    def accept_url(token: str) -> str:
        return request.build_absolute_uri(reverse("organizations:invitation", args=[token]))

    try:
        invitation = services.invite_member(
            organization=request.organization, email=form.cleaned_data["email"],
            role=form.cleaned_data["role"], by_user=request.user, accept_url=accept_url)
    except ValidationFailed as exc:
        add_errors(form, exc)
        return _page(request, form)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("organizations:page")
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect("organizations:page")


@organization_required
@require_POST
def change_role(request, pk: int):
    """An administrator gives a member another role (the service checks it is one of the
    organisation's roles)."""
    role = request.POST.get(f"m{pk}-role", "")
    try:
        with not_found_as_404():
            membership = services.change_member_role(
                organization=request.organization, membership_id=pk, role=role,
                by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("%(email)s is now %(role)s.") % {
            "email": membership.user.email, "role": membership.get_role_display()})
    return redirect("organizations:page")


@organization_required
@require_POST
def remove_member(request, pk: int):
    """An administrator takes a person out of the organisation; anyone may leave it."""
    organization = request.organization
    try:
        with not_found_as_404():
            membership = services.remove_member(organization=organization, membership_id=pk,
                                                by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("organizations:page")
    if membership.user_id == request.user.pk:
        messages.success(request, _("You have left %(organization)s.")
                         % {"organization": organization.name})
        return redirect("bookings:catalog")
    messages.success(request, _(
        "%(email)s no longer belongs to %(organization)s; the invitations they sent are "
        "withdrawn. If they knew the organisation's calendar subscription address or an API "
        "key, make a new one.") % {
        "email": membership.user.email, "organization": organization.name})
    return redirect("organizations:page")


@organization_required
@require_POST
def revoke_invitation(request, pk: int):
    try:
        with not_found_as_404():
            invitation = services.revoke_invitation(organization=request.organization,
                                                    invitation_id=pk, by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The invitation to %(email)s is withdrawn.")
                         % {"email": invitation.email})
    return redirect("organizations:page")


@sme_required
@require_POST
def consent_rights(request):
    """An administrator decides whether members may consent to sharing their own trials."""
    form = ConsentRightsForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, rights_form=form)
    allowed = form.cleaned_data["members_may_consent"]
    try:
        services.set_members_may_consent(organization=request.organization, allowed=allowed,
                                         by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("organizations:page")
    messages.success(request, _("Members may now consent to sharing their own trials' data.")
                     if allowed else _("Only administrators may now consent to sharing."))
    return redirect("organizations:page")


def admin_login(request):
    """The admin console's login page is allauth's, so its rate limits (and MFA) apply to
    staff too: Django's own admin login would take unlimited password guesses."""
    next_url = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(next_url)
        return render(request, "organizations/admin_forbidden.html", status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


def invitation(request, token: str):
    """Open to anyone holding the link. A visitor signs up (the sign-up form then joins
    the organisation) or logs in; a logged-in person accepts."""
    found = selectors.invitation_by_token(token)
    if found is None:
        raise Http404("No such invitation.")
    valid = found.is_open()
    if valid and not request.user.is_authenticated:
        request.session[INVITATION_SESSION_KEY] = token
    return render(request, "organizations/invitation.html", {
        "invitation": found, "valid": valid,
        "current": organization_of(request) if request.user.is_authenticated else None,
        "email_matches": request.user.is_authenticated
        and (request.user.email or "").lower() == found.email.lower(),
    })


@login_required
@require_POST
def accept_invitation(request, token: str):
    try:
        membership = services.accept_invitation(token=token, user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("organizations:invitation", token=token)
    request.session.pop(INVITATION_SESSION_KEY, None)
    messages.success(request, _("Welcome to %(organization)s.")
                     % {"organization": membership.organization.name})
    return redirect("bookings:catalog")
