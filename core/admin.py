"""The console's view of core records. Nothing here holds a rule: endpoints are created
and changed through ``core.services``; records the application writes (idempotency keys,
outbox messages, delivery logs) are read-only and cannot be deleted; bulk deletion is off
for the whole site."""

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import outbox, services
from .errors import DomainError, error_text
from .models import DeliveryLog, IdempotencyKey, OutboxMessage, WebhookEndpoint

# Bulk deletion would remove bookings, trials, releases and their history with no
# service, no event and no notification; whatever may be removed is removed one at a time
# through its own (service-backed) delete.
admin.site.disable_action("delete_selected")


class RecordInline(admin.TabularInline):
    """A read-only list of records (history, logs) under their parent: the console shows
    them; only the code that made them writes them."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecordAdmin(admin.ModelAdmin):
    """Rows written by the application (events, logs, keys): viewable, never added, changed
    or deleted by hand. Actions that go through a service (e.g. "retry") stay available."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(RecordAdmin):
    list_display = ["scope", "key", "response_status", "created"]
    search_fields = ["scope", "key"]
    date_hierarchy = "created"
    readonly_fields = ["scope", "key", "fingerprint", "response_status", "response_body",
                       "created"]


class DeliveryLogInline(RecordInline):
    model = DeliveryLog
    fields = ["at", "ok", "status_code", "error", "response_excerpt", "duration_ms"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(RecordAdmin):
    list_display = ["created", "channel", "event_type", "recipient", "status", "attempts",
                    "last_error", "next_attempt_at", "sent_at"]
    list_filter = ["status", "channel", "event_type"]
    search_fields = ["recipient", "event_type", "dedupe_key", "message_id"]
    date_hierarchy = "created"
    readonly_fields = ["channel", "event_type", "dedupe_key", "recipient", "endpoint",
                       "message_id", "payload", "status", "attempts", "next_attempt_at",
                       "sending_until", "sent_at", "last_error", "created"]
    inlines = [DeliveryLogInline]
    actions = ["retry_now"]


    @admin.action(description=gettext_lazy("Retry now (attempts start again from zero)"))
    def retry_now(self, request, queryset):
        """The outbox's retry, for every channel (a dataset release's message included:
        its eligibility is checked again before the attempt)."""
        done = sum(outbox.retry(message) for message in queryset)
        self.message_user(request, _("%(n)d message(s) re-queued.") % {"n": done})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are created and changed through ``core.services``: the service makes the
    signing secret (shown once, in a message) and re-enabling resets the failure count."""

    list_display = ["url", "organization", "active", "consecutive_failures", "disabled_at",
                    "created"]
    list_filter = ["active"]
    search_fields = ["url", "organization__name"]
    date_hierarchy = "created"
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created"]
    actions = ["enable"]

    def get_readonly_fields(self, request, obj=None):
        # The owner is chosen once, at creation.
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        from django.http import HttpResponseRedirect

        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, error_text(exc, fields=True), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in services.ENDPOINT_FIELDS
                if name in form.cleaned_data and (not change or name in form.changed_data)}
        if change:
            services.update_endpoint(endpoint=obj, data=data)
            return
        endpoint = services.create_endpoint(organization=form.cleaned_data["organization"],
                                            data=data)
        obj.pk, obj.secret, obj.created = endpoint.pk, endpoint.secret, endpoint.created
        obj._state.adding, obj._state.db = False, endpoint._state.db
        self.message_user(request, _(
            "The endpoint's signing secret, shown this once: %(secret)s") % {
            "secret": endpoint.secret}, messages.WARNING)

    @admin.action(description=gettext_lazy("Enable (and reset the failure count)"))
    def enable(self, request, queryset):
        for endpoint in queryset:
            services.enable_endpoint(endpoint=endpoint)
        self.message_user(request, _("%(n)d endpoint(s) enabled.") % {"n": queryset.count()})


@admin.register(DeliveryLog)
class DeliveryLogAdmin(RecordAdmin):
    list_display = ["at", "message", "ok", "status_code", "duration_ms"]
    list_filter = ["ok", "message__channel"]
    date_hierarchy = "at"
    readonly_fields = ["message", "at", "ok", "status_code", "error", "response_excerpt",
                       "duration_ms"]
