"""The console for calendar feeds: made and revoked through the feed services."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError

from ..models import CalendarFeed
from . import services


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Feeds are made and revoked through ``bookings.feeds.services`` (the service makes the secret
    token; its URL is shown once, in a message); a feed is not edited."""

    list_display = ["__str__", "organization", "equipment", "created", "revoked_at"]
    list_filter = ["organization__kind"]
    search_fields = ["name", "organization__name", "equipment__name"]
    date_hierarchy = "created"
    fields = ["organization", "equipment", "name", "created", "revoked_at"]
    readonly_fields = ["created", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        d = form.cleaned_data
        feed = services.create_feed(
            organization=d["organization"],
            equipment_id=d["equipment"].pk if d.get("equipment") else None,
            name=d.get("name", ""))
        obj.pk, obj.token, obj.created = feed.pk, feed.token, feed.created
        obj._state.adding, obj._state.db = False, feed._state.db
        url = request.build_absolute_uri(reverse("calendar-feed", args=[feed.token]))
        self.message_user(request, _("The feed's subscription URL, shown this once: "
                                     "%(url)s") % {"url": url}, messages.WARNING)

    @admin.action(description=gettext_lazy("Revoke selected feeds"))
    def revoke(self, request, queryset):
        for feed in queryset:
            services.revoke_feed(feed=feed)
        self.message_user(request, _("%(n)d feed(s) revoked.") % {"n": queryset.count()})
