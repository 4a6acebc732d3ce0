"""Admin console of billing.requests (platform staff): service requests, read only. Every
change is the SME's or the hub operator's, through the services (portal, console, API)."""

from django.contrib import admin

from billing.models import ServiceRequest, ServiceRequestAttachment
from core.admin import RecordAdmin, RecordInline


class AttachmentInline(RecordInline):
    model = ServiceRequestAttachment
    fields = ["name", "content_type", "size", "sha256", "uploaded_by", "uploaded"]


@admin.register(ServiceRequest)
class ServiceRequestAdmin(RecordAdmin):
    list_display = ["__str__", "organization", "hub", "status", "preferred_start", "created"]
    list_filter = ["status", "hub"]
    search_fields = ["title", "organization__name", "hub__name"]
    date_hierarchy = "created"
    readonly_fields = ["organization", "hub", "requested_by", "title", "plan", "equipment",
                       "preferred_start", "preferred_end", "status", "offer", "bookings",
                       "decided_by", "decided_at", "reason", "created", "updated"]
    fields = readonly_fields
    inlines = [AttachmentInline]
