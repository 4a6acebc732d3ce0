from django.contrib import admin

from . import outbox, webhooks
from .models import DeliveryLog, IdempotencyKey, OutboxMessage, WebhookEndpoint


class RecordInline(admin.TabularInline):
    """A read-only list of records (history, logs) under their parent: the console shows
    them; only the code that made them writes them."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class RecordAdmin(admin.ModelAdmin):
    """Rows written by the application (events, logs, keys): viewable, never added by hand."""

    def has_add_permission(self, request):
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
    fields = ["at", "ok", "status_code", "error", "duration_ms"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(RecordAdmin):
    list_display = ["created", "channel", "event_type", "recipient", "status", "attempts",
                    "sent_at"]
    list_filter = ["status", "channel", "event_type"]
    search_fields = ["recipient", "event_type", "dedupe_key", "message_id"]
    date_hierarchy = "created"
    readonly_fields = ["channel", "event_type", "dedupe_key", "recipient", "endpoint",
                       "message_id", "payload", "status", "attempts", "next_attempt_at",
                       "sending_until", "sent_at", "last_error", "created"]
    inlines = [DeliveryLogInline]
    actions = ["retry_now"]


    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        from .tasks import deliver_outbox_message, send_now

        for message in queryset:
            outbox.retry(message)
            send_now(deliver_outbox_message, message.pk)
        self.message_user(request, f"{queryset.count()} message(s) re-queued.")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "organization", "active", "consecutive_failures", "disabled_at",
                    "created"]
    list_filter = ["active"]
    search_fields = ["url", "organization__name"]
    date_hierarchy = "created"
    readonly_fields = ["secret", "consecutive_failures", "disabled_at", "disabled_reason",
                       "created"]

    def save_model(self, request, obj, form, change):
        if not obj.secret:
            obj.secret = webhooks.new_secret()
        super().save_model(request, obj, form, change)


@admin.register(DeliveryLog)
class DeliveryLogAdmin(RecordAdmin):
    list_display = ["at", "message", "ok", "status_code", "duration_ms"]
    list_filter = ["ok", "message__channel"]
    date_hierarchy = "at"
    readonly_fields = ["message", "at", "ok", "status_code", "error", "response_excerpt",
                       "duration_ms"]

