"""The admin console for organisations: every change goes through ``services`` (verifying,
suspending and reinstating, API keys), so it behaves as the portal and the API do. No
organisation or API key is deleted here: a deleted organisation would take its bookings
and trials with it (suspend it instead), a deleted key its audit trail (revoke it)."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from rest_framework_api_key.admin import APIKeyModelAdmin

from core.errors import ValidationFailed, error_text

from . import services
from .models import Invitation, Membership, Organization, OrganizationAPIKey


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["created"]


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
        max_length=services.SUSPENSION_REASON_MAX_LENGTH,
        help_text=gettext_lazy("Shown to the organisation's members when they open the "
                               "portal."))


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
    readonly_fields = ["created", "suspended_at", "suspension_reason", "suspended_by"]
    date_hierarchy = "created"
    inlines = [MembershipInline]
    actions = ["mark_verified", "suspend", "reinstate"]

    def has_delete_permission(self, request, obj=None):
        return False

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
            services.verify_organization(organization=organization, by=request.user)
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
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created"]
    list_filter = ["role", "organization__kind"]
    search_fields = ["user__email", "user__username", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["created"]
    date_hierarchy = "created"


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "organization", "last_used_at"]
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

