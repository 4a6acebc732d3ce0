from django.contrib import admin

from core import webhooks
from core.admin import RecordAdmin, RecordInline
from core.tasks import send_now

from . import services
from .models import (
    Consent,
    DatasetRelease,
    DeliveryAttempt,
    Measurement,
    ResultFile,
    SharingAgreement,
    StandingConsent,
    Trial,
)
from .tasks import collect_trial_results


class ResultFileInline(RecordInline):
    model = ResultFile
    fields = ["name", "file", "size", "sha256", "uploaded_by", "created"]


@admin.register(Trial)
class TrialAdmin(RecordAdmin):
    """Trials open when bookings are confirmed; staff never add one by hand."""

    list_display = ["pk", "booking", "status", "measurement_count", "attempts", "collected_at",
                    "updated"]
    list_filter = ["status", "booking__equipment__hub", "booking__equipment__category"]
    list_select_related = ["booking", "booking__equipment", "booking__equipment__hub"]
    search_fields = ["=booking__id", "booking__equipment__name", "booking__organization__name"]
    date_hierarchy = "created"
    readonly_fields = ["booking", "status", "attempts", "last_error", "collected_at",
                       "measurement_count", "summary", "created", "updated"]
    inlines = [ResultFileInline]
    actions = ["collect_now"]

    @admin.action(description="Collect results now")
    def collect_now(self, request, queryset):
        sent = 0
        for trial in queryset:
            services.retry_collection(trial=trial)
            sent += send_now(collect_trial_results, trial.pk)
        self.message_user(request, f"Collection enqueued for {sent} trial(s).")


@admin.register(Measurement)
class MeasurementAdmin(RecordAdmin):
    list_display = ["trial", "ts", "metric", "value", "unit"]
    list_filter = ["metric"]
    search_fields = ["=trial__booking__id", "metric"]
    readonly_fields = ["trial", "ts", "metric", "value", "unit"]
    show_full_result_count = False  # counting millions of rows for the paginator is slow


@admin.register(ResultFile)
class ResultFileAdmin(RecordAdmin):
    list_display = ["name", "trial", "size", "sha256", "uploaded_by", "created"]
    search_fields = ["name", "sha256", "=trial__booking__id"]
    date_hierarchy = "created"
    readonly_fields = ["trial", "file", "name", "content_type", "size", "sha256", "uploaded_by",
                       "created"]


class ConsentInline(RecordInline):
    model = Consent
    fields = ["trial", "granted_by", "granted_at", "revoked_at", "revoked_by", "standing"]


@admin.register(SharingAgreement)
class SharingAgreementAdmin(admin.ModelAdmin):
    list_display = ["__str__", "operator", "university", "hub", "anonymize", "embargo_days",
                    "valid_from", "valid_until", "revoked_at"]
    list_filter = ["operator", "university", "anonymize"]
    list_select_related = ["operator", "university", "hub"]
    search_fields = ["title", "operator__name", "university__name", "hub__name"]
    filter_horizontal = ["categories"]
    date_hierarchy = "created"
    readonly_fields = ["signing_secret", "created"]
    inlines = [ConsentInline]

    def save_model(self, request, obj, form, change):
        if not obj.signing_secret:
            obj.signing_secret = webhooks.new_secret()
        super().save_model(request, obj, form, change)


@admin.register(Consent)
class ConsentAdmin(RecordAdmin):
    """Consent is the SME's to give; the console only shows it."""

    list_display = ["trial", "agreement", "granted_by", "granted_at", "revoked_at", "standing"]
    list_filter = ["standing", "agreement__university"]
    list_select_related = ["trial", "agreement", "granted_by"]
    search_fields = ["=trial__booking__id", "agreement__university__name"]
    date_hierarchy = "granted_at"
    readonly_fields = ["trial", "agreement", "granted_by", "granted_at", "revoked_at",
                       "revoked_by", "standing"]



@admin.register(StandingConsent)
class StandingConsentAdmin(RecordAdmin):
    list_display = ["organization", "agreement", "granted_at", "revoked_at"]
    list_select_related = ["organization", "agreement"]
    readonly_fields = ["organization", "agreement", "granted_by", "granted_at", "revoked_at"]


class DeliveryAttemptInline(RecordInline):
    model = DeliveryAttempt
    fields = ["at", "webhook_id", "status_code", "ok", "error", "duration_ms"]


@admin.register(DatasetRelease)
class DatasetReleaseAdmin(RecordAdmin):
    list_display = ["pk", "trial", "agreement", "status", "attempts", "row_count",
                    "delivered_at", "created"]
    list_filter = ["status", "agreement__university"]
    list_select_related = ["trial", "agreement", "agreement__university"]
    search_fields = ["=trial__booking__id", "sha256", "webhook_id"]
    date_hierarchy = "created"
    readonly_fields = ["trial", "agreement", "status", "package", "sha256", "size", "row_count",
                       "webhook_id", "attempts", "next_attempt_at", "sending_until",
                       "last_error", "delivered_at", "receipt", "withdrawn_reason", "created"]
    inlines = [DeliveryAttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(RecordAdmin):
    list_display = ["at", "release", "webhook_id", "status_code", "ok", "duration_ms"]
    list_filter = ["ok"]
    date_hierarchy = "at"
    readonly_fields = ["release", "at", "webhook_id", "status_code", "ok", "error",
                       "response_excerpt", "duration_ms"]

