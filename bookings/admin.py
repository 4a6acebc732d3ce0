from django.contrib import admin, messages
from django.urls import path

from core.admin import RecordAdmin, RecordInline
from core.errors import DomainError

from . import services
from .feeds import admin as feeds_admin  # noqa: F401 - registers the feeds' console
from .models import Booking, BookingEvent
from .reports.admin import report_view


class BookingEventInline(RecordInline):
    model = BookingEvent
    fields = ["at", "code", "from_status", "to_status", "actor_user", "actor_organization",
              "reason", "notified_at"]


def _run(modeladmin, request, queryset, service, verb: str):
    """Apply a lifecycle service to each selected booking as its hub's operator, so the
    console follows exactly the rules the API does."""
    done = 0
    for booking in queryset.select_related("equipment__hub__operator"):
        try:
            service(booking_id=booking.pk, organization=booking.equipment.hub.operator,
                    reason=f"{verb} in the admin console by {request.user}", by_user=request.user)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"Booking #{booking.pk}: {exc.message}",
                                    messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{done} booking(s) {verb.lower()}.")


@admin.register(Booking)
class BookingAdmin(RecordAdmin):
    """Bookings are written by the booking services only: read-only here, never deleted;
    the lifecycle actions below call those services as the hub's operator."""

    list_display = ["id", "equipment", "organization", "start", "end", "status", "price",
                    "created"]
    list_filter = ["status", "equipment__hub", "equipment__category", "organization"]
    list_select_related = ["equipment", "equipment__hub", "organization"]
    search_fields = ["=id", "equipment__name", "organization__name", "purpose"]
    date_hierarchy = "start"
    readonly_fields = ["equipment", "organization", "requested_by", "trial_lead", "start", "end",
                       "blocked_until", "status", "price", "decided_by", "decided_at",
                       "decision_reason", "checked_in_at", "completed_at", "created", "updated"]
    fields = [*readonly_fields[:8], "purpose", *readonly_fields[8:]]
    inlines = [BookingEventInline]
    actions = ["approve", "reject", "cancel"]
    # Adds a "Reports" link (utilization and billing) to the changelist's tools.
    change_list_template = "admin/bookings/booking/change_list.html"

    def get_urls(self):
        reports = path("reports/", self.admin_site.admin_view(self.reports_view),
                       name="bookings_booking_reports")
        return [reports, *super().get_urls()]

    def reports_view(self, request):
        return report_view(self, request)

    @admin.action(description="Approve selected bookings")
    def approve(self, request, queryset):
        _run(self, request, queryset, services.approve_booking, "Approved")

    @admin.action(description="Reject selected bookings")
    def reject(self, request, queryset):
        _run(self, request, queryset, services.reject_booking, "Rejected")

    @admin.action(description="Cancel selected bookings")
    def cancel(self, request, queryset):
        _run(self, request, queryset, services.cancel_booking, "Cancelled")


@admin.register(BookingEvent)
class BookingEventAdmin(RecordAdmin):
    list_display = ["at", "code", "booking", "from_status", "to_status", "actor_user",
                    "actor_organization", "notified_at"]
    list_filter = ["code", "to_status"]
    list_select_related = ["booking", "booking__equipment", "booking__equipment__hub",
                           "actor_user", "actor_organization"]
    search_fields = ["=booking__id", "reason"]
    date_hierarchy = "at"
    readonly_fields = ["booking", "code", "from_status", "to_status", "actor_user",
                       "actor_organization", "reason", "at", "notified_at"]
