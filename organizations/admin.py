"""The admin console for organisations: every change goes through ``services`` (verifying,
suspending and reinstating, API keys), so it behaves as the portal and the API do. No
organisation or API key is deleted here: a deleted organisation would take its bookings
and trials with it (suspend it instead), a deleted key its audit trail (revoke it)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from core.admin import (
    QUEUE_LENGTH,
    QueueAction,
    QueueItem,
    RecordInline,
    StaffQueue,
    ThroughServiceAdmin,
    back_to,
    may_act,
    register_queue,
    when,
)
from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors

from . import services
from .models import Invitation, Membership, Organization, OrganizationAPIKey


class MembershipInline(RecordInline):
    """The organisation's people, as a list: each row opens its membership, where staff
    change the role or remove it through the services (the rules of who may belong where
    are theirs)."""

    model = Membership
    fields = ["user", "role", "created"]
    show_change_link = True


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
        max_length=services.SUSPENSION_REASON_MAX_LENGTH,
        help_text=gettext_lazy("Shown to the organisation's members when they open the "
                               "portal."))


class RefuseForm(forms.Form):
    # Not required here: the service says what is missing, at the field.
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("E-mailed to the organisation's administrators: say what "
                               "could not be checked and what would correct it."))


def awaiting_verification():
    """SMEs nobody has verified or refused yet (suspended ones aside), oldest first."""
    return (Organization.objects.filter(kind=Organization.Kind.SME, verified=False,
                                        suspended_at__isnull=True,
                                        verification_refused_at__isnull=True)
            .order_by("created", "pk"))


def _admin_addresses(organization) -> str:
    return ", ".join(Membership.objects.filter(
        organization=organization, role=Membership.Role.ADMIN).exclude(user__email="")
        .values_list("user__email", flat=True)) or "—"


def verification_queue(request) -> StaffQueue | None:
    if not may_act(request, Organization):
        return None
    waiting = awaiting_verification()
    count = waiting.count()
    items = []
    for organization in waiting[:QUEUE_LENGTH]:
        detail = _("Registered %(created)s; credit code %(code)s; administrators: "
                   "%(admins)s") % {"created": when(organization.created),
                                    "code": organization.credit_code or "—",
                                    "admins": _admin_addresses(organization)}
        items.append(QueueItem(
            title=organization.name,
            url=reverse("admin:organizations_organization_change", args=[organization.pk]),
            detail=detail, actions=(
                QueueAction(pgettext("organisation", "Verify"), reverse(
                    "admin:organizations_organization_verify", args=[organization.pk]),
                    post=True),
                QueueAction(_("Refuse with a reason"), reverse(
                    "admin:organizations_organization_refuse", args=[organization.pk])))))
    return StaffQueue(
        key="queue-verification",
        title=ngettext("%(count)d organisation awaiting verification",
                       "%(count)d organisations awaiting verification", count)
        % {"count": count}, count=count, items=items,
        empty=_("No organisation is awaiting verification."),
        all_url=reverse("admin:organizations_organization_changelist")
        + "?verified__exact=0&kind__exact=sme")


register_queue("verification", verification_queue, order=10)


class SuspendedFilter(admin.SimpleListFilter):
    title = gettext_lazy("suspended")
    parameter_name = "suspended"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(suspended_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(suspended_at__isnull=True)
        return queryset


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "credit_code", "verified", "suspended_at",
                    "created"]
    list_filter = ["kind", "verified", SuspendedFilter]
    search_fields = ["name", "slug", "credit_code"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created", "suspended_at", "suspension_reason", "suspended_by",
                       "verification_refused"]
    date_hierarchy = "created"
    inlines = [MembershipInline]
    actions = ["mark_verified", "suspend", "reinstate"]
    # Verify / refuse buttons on an unverified organisation's page.
    change_form_template = "admin/organizations/organization/change_form.html"

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("verification refused"))
    def verification_refused(self, organization) -> str:
        if organization.verification_refused_at is None:
            return "—"
        return _("%(at)s by %(user)s: %(reason)s") % {
            "at": when(organization.verification_refused_at),
            "user": organization.verification_refused_by or "—",
            "reason": organization.verification_refusal_reason}

    def get_urls(self):
        def view(name, method):
            return path(f"<path:object_id>/{name}/", self.admin_site.admin_view(method),
                        name=f"organizations_organization_{name}")

        return [view("verify", self.verify_view), view("refuse", self.refuse_view),
                *super().get_urls()]

    def _decided(self, request, object_id) -> Organization:
        if not may_act(request, Organization):
            raise PermissionDenied
        organization = self.get_object(request, unquote(object_id))
        if organization is None:
            raise Http404
        return organization

    def _decision_page(self, request, organization, *, title: str, form=None,
                       submit: str):
        return TemplateResponse(request, "admin/organizations/organization/decision.html", {
            **self.admin_site.each_context(request),
            "title": title, "opts": self.model._meta, "organization": organization,
            "original": organization, "form": form, "submit": submit,
            "admins": _admin_addresses(organization),
            "next": request.POST.get("next") or request.GET.get("next") or "",
        })

    def _portal_url(self, request) -> str:
        return request.build_absolute_uri("/")

    def verify_view(self, request, object_id):
        """Verify one organisation (its administrators are e-mailed): a confirmation page,
        then the service."""
        organization = self._decided(request, object_id)
        change_url = reverse("admin:organizations_organization_change", args=[organization.pk])
        if request.method == "POST":
            try:
                services.verify_organization(organization=organization, by=request.user,
                                             portal_url=self._portal_url(request))
            except DomainError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
            else:
                self.message_user(request, _(
                    "%(name)s is verified; its administrators are being e-mailed.")
                    % {"name": organization.name})
            return back_to(request, change_url)
        return self._decision_page(request, organization,
                                   submit=pgettext("organisation", "Verify"),
                                   title=_("Verify %(name)s") % {"name": organization.name})

    def refuse_view(self, request, object_id):
        """Refuse one organisation's verification, with the reason its administrators are
        e-mailed."""
        organization = self._decided(request, object_id)
        change_url = reverse("admin:organizations_organization_change", args=[organization.pk])
        form = RefuseForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                services.refuse_organization(organization=organization,
                                             reason=form.cleaned_data["reason"],
                                             by=request.user,
                                             portal_url=self._portal_url(request))
            except ValidationFailed as exc:
                add_errors(form, exc)
            except DomainError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
                return back_to(request, change_url)
            else:
                self.message_user(request, _(
                    "%(name)s was not verified; its administrators are being e-mailed the "
                    "reason.") % {"name": organization.name})
                return back_to(request, change_url)
        return self._decision_page(request, organization, form=form,
                                   submit=_("Refuse verification"),
                                   title=_("Refuse to verify %(name)s")
                                   % {"name": organization.name})

    def get_readonly_fields(self, request, obj=None):
        # Verification goes through its action (the service); an organisation's kind is
        # what its bookings, agreements and keys were made under, so it never changes.
        fields = [*self.readonly_fields, "verified"]
        return [*fields, "kind"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        allowed = obj.members_may_consent
        if change:
            obj.members_may_consent = Organization.objects.get(pk=obj.pk).members_may_consent
        super().save_model(request, obj, form, change)  # name, slug, credit code (validated)
        services.set_members_may_consent(organization=obj, allowed=allowed,
                                         staff_user=request.user)

    @admin.action(description=gettext_lazy("Mark selected organisations as verified"))
    def mark_verified(self, request, queryset):
        for organization in queryset:
            services.verify_organization(organization=organization, by=request.user,
                                         portal_url=request.build_absolute_uri("/"))
        count = queryset.count()
        self.message_user(request, ngettext("%(count)d organisation verified.",
                                            "%(count)d organisations verified.", count)
                          % {"count": count})

    @admin.action(description=gettext_lazy("Suspend selected organisations (API keys and "
                                           "portal refused, bookings kept)"))
    def suspend(self, request, queryset):
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for organization in queryset:
                try:
                    services.suspend_organization(organization=organization,
                                                  reason=form.cleaned_data["reason"],
                                                  by=request.user)
                except ValidationFailed as exc:
                    self.message_user(request, error_text(exc), messages.ERROR)
                    return None
                done += 1
            self.message_user(request, ngettext("%(count)d organisation suspended.",
                                                "%(count)d organisations suspended.", done)
                              % {"count": done})
            return None
        return TemplateResponse(request, "admin/organizations/organization/suspend.html", {
            **self.admin_site.each_context(request),
            "title": _("Suspend organisations"), "opts": self.model._meta,
            "organizations": queryset, "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description=gettext_lazy("Reinstate selected organisations"))
    def reinstate(self, request, queryset):
        count = 0
        for organization in queryset.filter(suspended_at__isnull=False):
            services.reinstate_organization(organization=organization, by=request.user)
            count += 1
        self.message_user(request, ngettext("%(count)d organisation reinstated.",
                                            "%(count)d organisations reinstated.", count)
                          % {"count": count})


@admin.register(Membership)
class MembershipAdmin(ThroughServiceAdmin):
    """Memberships are added, changed and removed through ``services`` (one organisation
    per person, the roles of the organisation's kind, at least one administrator kept), as
    the portal's invitations and members list do. A refusal is shown as a message and
    changes nothing."""

    list_display = ["user", "organization", "role", "created"]
    list_filter = ["role", "organization__kind"]
    search_fields = ["user__email", "user__username", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    date_hierarchy = "created"

    def get_readonly_fields(self, request, obj=None):
        # A membership is one person in one organisation: only its role changes.
        return ["user", "organization", "created"] if obj else ["created"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, each through the service
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            if "role" in form.changed_data:
                services.change_member_role(organization=obj.organization,
                                            membership_id=obj.pk, role=obj.role,
                                            staff_user=request.user)
            return
        created = services.add_member(organization=form.cleaned_data["organization"],
                                      user=form.cleaned_data["user"],
                                      role=form.cleaned_data["role"], staff_user=request.user)
        obj.pk, obj.created = created.pk, created.created
        obj._state.adding, obj._state.db = False, created._state.db

    def delete_model(self, request, obj):
        services.remove_member(organization=obj.organization, membership_id=obj.pk,
                               staff_user=request.user)


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyAdmin(APIKeyModelAdmin):
    # The library's "Has expired" column, with a translated heading.
    list_display = [*("has_expired" if name == "_has_expired" else name
                      for name in APIKeyModelAdmin.list_display), "organization", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "organization__kind"]
    search_fields = [*APIKeyModelAdmin.search_fields, "organization__name"]
    autocomplete_fields = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), "last_used_at"]
        if obj is not None:
            fields.append("organization")  # a key never changes hands
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # revoke it instead: the row stays as the record of its use

    @admin.display(description=gettext_lazy("Has expired"), boolean=True)
    def has_expired(self, key) -> bool:
        return key.has_expired

    def save_model(self, request, obj, form, change):
        if not change:
            key, secret = services.create_api_key(organization=obj.organization, name=obj.name,
                                                  expiry_date=obj.expiry_date)
            for field in key._meta.concrete_fields:
                setattr(obj, field.attname, getattr(key, field.attname))
            obj._state.adding, obj._state.db = False, key._state.db
            messages.warning(request, _(
                "The API key for %(name)s is: %(key)s. Store it somewhere safe: it cannot be "
                "shown again.") % {"name": obj.name, "key": secret})
            return
        revoking = "revoked" in form.changed_data and obj.revoked
        if revoking:
            obj.revoked = False
        super().save_model(request, obj, form, change)
        if revoking:
            services.revoke_api_key(organization=obj.organization, prefix=obj.prefix)
            obj.revoked = True


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations SME administrators sent from the portal (read-only here)."""

    list_display = ["email", "organization", "role", "created", "expires", "accepted_at",
                    "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "organization__name"]
    readonly_fields = ["organization", "email", "role", "invited_by", "created", "expires",
                       "accepted_at", "accepted_by", "revoked_at"]
    exclude = ["token"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False



# The library's own key model is not used (keys are OrganizationAPIKey, above, each acting
# as its organisation): its admin would list an always-empty "API Key Permissions" section,
# under names the library does not translate.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)
