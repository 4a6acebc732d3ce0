from django.contrib import admin

from core import webhooks
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


class ResultFileInline(admin.TabularInline):
    model = ResultFile
    extra = 0
    fields = ["name", "file", "size", "sha256", "uploaded_by", "created"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False  # trials open when bookings are confirmed

    @admin.action(description="Collect results now")
    def collect_now(self, request, queryset):
        sent = 0
        for trial in queryset:
            services.retry_collection(trial=trial)
            sent += send_now(collect_trial_results, trial.pk)
        self.message_user(request, f"Collection enqueued for {sent} trial(s).")


@admin.register(Measurement)
class MeasurementAdmin(admin.ModelAdmin):
    list_display = ["trial", "ts", "metric", "value", "unit"]
    list_filter = ["metric"]
    search_fields = ["=trial__booking__id", "metric"]
    readonly_fields = ["trial", "ts", "metric", "value", "unit"]
    show_full_result_count = False  # counting millions of rows for the paginator is slow

    def has_add_permission(self, request):
        return False


@admin.register(ResultFile)
class ResultFileAdmin(admin.ModelAdmin):
    list_display = ["name", "trial", "size", "sha256", "uploaded_by", "created"]
    search_fields = ["name", "sha256", "=trial__booking__id"]
    date_hierarchy = "created"
    readonly_fields = ["trial", "file", "name", "content_type", "size", "sha256", "uploaded_by",
                       "created"]

    def has_add_permission(self, request):
        return False


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    fields = ["trial", "granted_by", "granted_at", "revoked_at", "revoked_by", "standing"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


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
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["trial", "agreement", "granted_by", "granted_at", "revoked_at", "standing"]
    list_filter = ["standing", "agreement__university"]
    list_select_related = ["trial", "agreement", "granted_by"]
    search_fields = ["=trial__booking__id", "agreement__university__name"]
    date_hierarchy = "granted_at"
    readonly_fields = ["trial", "agreement", "granted_by", "granted_at", "revoked_at",
                       "revoked_by", "standing"]

    def has_add_permission(self, request):
        return False  # consent is the SME's to give


@admin.register(StandingConsent)
class StandingConsentAdmin(admin.ModelAdmin):
    list_display = ["organization", "agreement", "granted_at", "revoked_at"]
    list_select_related = ["organization", "agreement"]
    readonly_fields = ["organization", "agreement", "granted_by", "granted_at", "revoked_at"]

    def has_add_permission(self, request):
        return False


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = ["at", "webhook_id", "status_code", "ok", "error", "duration_ms"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DatasetRelease)
class DatasetReleaseAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ["at", "release", "webhook_id", "status_code", "ok", "duration_ms"]
    list_filter = ["ok"]
    date_hierarchy = "at"
    readonly_fields = ["release", "at", "webhook_id", "status_code", "ok", "error",
                       "response_excerpt", "duration_ms"]

    def has_add_permission(self, request):
        return False
