from django.contrib import admin

from .models import Capability, Category, Equipment, Hub, MaintenanceWindow, Qualification


class EquipmentInline(admin.TabularInline):
    model = Equipment
    extra = 0
    fields = ["name", "slug", "category", "status", "hourly_rate", "approval_required"]
    show_change_link = True


@admin.register(Hub)
class HubAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "operator", "timezone", "address", "created"]
    list_filter = ["operator", "timezone"]
    search_fields = ["name", "slug", "address", "operator__name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created"]
    date_hierarchy = "created"
    inlines = [EquipmentInline]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Capability)
class CapabilityAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class MaintenanceWindowInline(admin.TabularInline):
    model = MaintenanceWindow
    extra = 0
    fields = ["start", "end", "reason", "created_by"]
    readonly_fields = ["created_by"]


@admin.register(Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ["name", "hub", "category", "status", "hourly_rate", "approval_required",
                    "qualification_required", "result_source_kind"]
    list_filter = ["status", "category", "hub", "approval_required", "qualification_required",
                   "result_source_kind"]
    list_select_related = ["hub", "category"]
    search_fields = ["name", "slug", "description", "hub__name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["capabilities"]
    readonly_fields = ["created", "updated"]
    date_hierarchy = "created"
    inlines = [MaintenanceWindowInline]
    fieldsets = [
        (None, {"fields": ["hub", "name", "slug", "category", "capabilities", "status",
                           "hourly_rate", "description", "specs"]}),
        ("Booking policy", {"fields": ["slot_granularity", "min_duration", "max_duration",
                                       "lead_time", "booking_horizon", "changeover_buffer",
                                       "approval_required", "qualification_required",
                                       "max_open_bookings_per_sme"]}),
        ("Result source", {"fields": ["result_source_kind", "result_source_url",
                                      "result_source_secret"]}),
        ("Audit", {"fields": ["created", "updated"]}),
    ]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["equipment", "start", "end", "reason", "created_by", "created"]
    list_filter = ["equipment__hub"]
    list_select_related = ["equipment", "equipment__hub", "created_by"]
    search_fields = ["equipment__name", "reason"]
    readonly_fields = ["created", "created_by"]
    date_hierarchy = "start"


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["user", "equipment", "category", "granted_by", "granted", "expires"]
    list_filter = ["category"]
    list_select_related = ["user", "equipment", "category", "granted_by"]
    search_fields = ["user__email", "user__username", "equipment__name", "category__name"]
    autocomplete_fields = ["user", "equipment"]
    readonly_fields = ["granted", "granted_by"]
    date_hierarchy = "granted"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.granted_by = request.user
        super().save_model(request, obj, form, change)
