from django.contrib import admin

from core.tasks import send_now

from . import services
from .models import Measurement, ResultFile, Trial
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
