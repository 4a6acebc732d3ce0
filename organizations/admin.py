from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from .models import Invitation, Membership, Organization, OrganizationAPIKey


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["created"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "credit_code", "verified", "created"]
    list_filter = ["kind", "verified"]
    search_fields = ["name", "slug", "credit_code"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created"]
    date_hierarchy = "created"
    inlines = [MembershipInline]
    actions = ["mark_verified"]

    @admin.action(description="Mark selected organisations as verified")
    def mark_verified(self, request, queryset):
        updated = queryset.update(verified=True)
        self.message_user(request, f"{updated} organisation(s) verified.")


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
        return [*super().get_readonly_fields(request, obj), "last_used_at"]


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
