from django.contrib import admin

from .models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["scope", "key", "response_status", "created"]
    search_fields = ["scope", "key"]
    date_hierarchy = "created"
    readonly_fields = ["scope", "key", "fingerprint", "response_status", "response_body",
                       "created"]

    def has_add_permission(self, request):
        return False
