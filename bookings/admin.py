from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.admin import (
    QUEUE_LENGTH,
    QueueAction,
    QueueItem,
    RecordAdmin,
    RecordInline,
    StaffQueue,
    back_to,
    may_act,
    register_queue,
    when,
)
from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors
from core.reasons import ReasonCode
from equipment.wording import zone_label

from . import reasons, services
from .feeds import admin as feeds_admin  # noqa: F401 - registers the feeds' console
from .models import Booking, BookingEvent
from .reports.admin import report_view

# A request waiting longer than this is in the staff queue on the console's index.
WAITING_TOO_LONG = timedelta(days=1)


@admin.display(description=gettext_lazy("reason"))
def shown_reason(event: BookingEvent) -> str:
    """The event's reason in the console's language (core.reasons)."""
    return event.reason_shown


class BookingEventInline(RecordInline):
    model = BookingEvent
    fields = ["at", "code", "from_status", "to_status", "actor_user", "actor_organization",
              shown_reason, "notified_at"]


def _run(modeladmin, request, queryset, service, reason: ReasonCode, done_message):
    """Apply a lifecycle service to each selected booking as its hub's operator, so the
    console follows exactly the rules the API does; ``reason`` (naming the staff member)
    goes into each booking's history."""
    done = 0
    for booking in queryset.select_related("equipment__hub__operator"):
        try:
            service(booking_id=booking.pk, organization=booking.equipment.hub.operator,
                    reason=reason.of(user=str(request.user)), by_user=request.user)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, _("Booking #%(id)s: %(error)s") % {
                "id": booking.pk, "error": error_text(exc)}, messages.WARNING)
    if done:
        modeladmin.message_user(request, done_message(done) % {"count": done})


class DecisionForm(forms.Form):
    """The reason of a decision on one booking request (the SME reads it)."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 4}),
        max_length=Booking._meta.get_field("decision_reason").max_length,
        help_text=gettext_lazy("Sent to the SME with the decision and kept in the "
                               "booking's history."))

    def __init__(self, *args, reason_required: bool, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["reason"]
        field.required = reason_required
        field.error_messages["required"] = _("Say why the request is rejected: the SME "
                                             "reads it.")


# verb → (service, page title, button, message when done)
DECISIONS = {
    "approve": (services.approve_booking, gettext_lazy("Approve booking #%(id)s"),
                gettext_lazy("Approve"), gettext_lazy("Booking #%(id)s approved; the SME is "
                                                      "being told.")),
    "reject": (services.reject_booking, gettext_lazy("Reject booking #%(id)s"),
               gettext_lazy("Reject"), gettext_lazy("Booking #%(id)s rejected; the SME is "
                                                    "being told, with the reason.")),
}


def waiting_requests():
    """Requests waiting for a decision for longer than ``WAITING_TOO_LONG``, oldest
    first."""
    return (Booking.objects.filter(status=Booking.Status.REQUESTED,
                                   created__lt=timezone.now() - WAITING_TOO_LONG)
            .select_related("equipment", "equipment__hub", "organization")
            .order_by("created", "pk"))


def waiting_requests_queue(request) -> StaffQueue | None:
    if not may_act(request, Booking):
        return None
    waiting = waiting_requests()
    count = waiting.count()
    items = []
    for booking in waiting[:QUEUE_LENGTH]:
        hub = booking.equipment.hub
        detail = _("%(sme)s; %(start)s – %(end)s (%(tz)s); requested %(created)s") % {
            "sme": booking.organization.name, "start": when(booking.start, hub.timezone),
            "end": when(booking.end, hub.timezone),
            "tz": zone_label(hub.timezone, bracketed=True),
            "created": when(booking.created, hub.timezone)}
        items.append(QueueItem(
            title=_("#%(id)s %(equipment)s at %(hub)s") % {
                "id": booking.pk, "equipment": booking.equipment.name, "hub": hub.name},
            url=reverse("admin:bookings_booking_change", args=[booking.pk]), detail=detail,
            actions=tuple(QueueAction(DECISIONS[verb][2], reverse(
                f"admin:bookings_booking_{verb}", args=[booking.pk]))
                for verb in ("approve", "reject"))))
    return StaffQueue(
        key="queue-waiting-requests",
        title=ngettext("%(count)d booking request waiting longer than a day",
                       "%(count)d booking requests waiting longer than a day", count)
        % {"count": count}, count=count, items=items,
        empty=_("No booking request has waited longer than a day."),
        all_url=reverse("admin:bookings_booking_changelist") + "?status__exact=requested")


register_queue("waiting_requests", waiting_requests_queue, order=20)


@admin.register(Booking)
class BookingAdmin(RecordAdmin):
    """Bookings are written by the booking services only: read-only here, never deleted;
    the lifecycle actions below, and the approve/reject pages of one request, call those
    services as the hub's operator."""

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
    # Approve / reject buttons on a request's page.
    change_form_template = "admin/bookings/booking/change_form.html"

    def get_urls(self):
        reports = path("reports/", self.admin_site.admin_view(self.reports_view),
                       name="bookings_booking_reports")
        decisions = [path(f"<path:object_id>/{verb}/",
                          self.admin_site.admin_view(self.decision_view),
                          {"verb": verb}, name=f"bookings_booking_{verb}")
                     for verb in DECISIONS]
        return [reports, *decisions, *super().get_urls()]

    def reports_view(self, request):
        return report_view(self, request)

    def decision_view(self, request, object_id, verb: str):
        """Approve or reject one request, with a reason (required to reject), through the
        booking service as the hub's operator."""
        if not may_act(request, Booking):
            raise PermissionDenied
        booking = self.get_object(request, unquote(object_id))
        if booking is None:
            raise Http404
        service, title, submit, done = DECISIONS[verb]
        change_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        form = DecisionForm(request.POST if request.method == "POST" else None,
                            reason_required=verb == "reject")
        if form.is_valid():
            try:
                service(booking_id=booking.pk, organization=booking.equipment.hub.operator,
                        reason=form.cleaned_data["reason"].strip(), by_user=request.user)
            except ValidationFailed as exc:
                add_errors(form, exc)
            except DomainError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
                return back_to(request, change_url)
            else:
                self.message_user(request, done % {"id": booking.pk})
                return back_to(request, change_url)
        return TemplateResponse(request, "admin/bookings/booking/decision.html", {
            **self.admin_site.each_context(request),
            "title": title % {"id": booking.pk}, "opts": self.model._meta,
            "booking": booking, "original": booking, "form": form, "submit": submit,
            "verb": verb, "next": request.POST.get("next") or request.GET.get("next") or "",
        })

    @admin.action(description=gettext_lazy("Approve selected bookings"))
    def approve(self, request, queryset):
        _run(self, request, queryset, services.approve_booking,
             reasons.APPROVED_IN_ADMIN,
             lambda n: ngettext("%(count)d booking approved.", "%(count)d bookings approved.", n))

    @admin.action(description=gettext_lazy("Reject selected bookings"))
    def reject(self, request, queryset):
        _run(self, request, queryset, services.reject_booking,
             reasons.REJECTED_IN_ADMIN,
             lambda n: ngettext("%(count)d booking rejected.", "%(count)d bookings rejected.", n))

    @admin.action(description=gettext_lazy("Cancel selected bookings"))
    def cancel(self, request, queryset):
        _run(self, request, queryset, services.cancel_booking,
             reasons.CANCELLED_IN_ADMIN,
             lambda n: ngettext("%(count)d booking cancelled.", "%(count)d bookings cancelled.", n))


@admin.register(BookingEvent)
class BookingEventAdmin(RecordAdmin):
    list_display = ["at", "code", "booking", "from_status", "to_status", "actor_user",
                    "actor_organization", "notified_at"]
    list_filter = ["code", "to_status"]
    list_select_related = ["booking", "booking__equipment", "booking__equipment__hub",
                           "actor_user", "actor_organization"]
    search_fields = ["=booking__id", "reason"]
    date_hierarchy = "at"
    # The reason as its reader's language shows it (the stored English text of a reason
    # the platform wrote stays searchable).
    fields = readonly_fields = ["booking", "code", "from_status", "to_status", "actor_user",
                                "actor_organization", shown_reason, "reason_code",
                                "reason_args", "at", "notified_at"]
