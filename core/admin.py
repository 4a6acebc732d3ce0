"""The console's view of core records. Nothing here holds a rule: endpoints are created
and changed through ``core.services``; records the application writes (idempotency keys,
outbox messages, delivery logs) are read-only and cannot be deleted; bulk deletion is off
for the whole site."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import outbox, services
from .errors import DomainError, error_text
from .forms import JSONDocumentField
from .models import DeliveryLog, IdempotencyKey, OutboxMessage, WebhookEndpoint

# Bulk deletion would remove bookings, trials, releases and their history with no
# service, no event and no notification; whatever may be removed is removed one at a time
# through its own (service-backed) delete.
admin.site.disable_action("delete_selected")
admin.site.site_header = gettext_lazy("Testbed admin console")
admin.site.site_title = gettext_lazy("Testbed administration")


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

    def get_urls(self):
        retry = path("<path:object_id>/retry/", self.admin_site.admin_view(self.retry_view),
                     name="core_outboxmessage_retry")
        return [retry, *super().get_urls()]

    def retry_view(self, request, object_id):
        """One message's retry, from the staff queues (POST; back to ``next``)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not may_act(request, OutboxMessage):
            raise PermissionDenied
        message = self.get_object(request, unquote(object_id))  # None for "abc", not a 500
        if message is None:
            raise Http404("No such message.")
        if outbox.retry(message):
            self.message_user(request, _("Message #%(id)s re-queued: it is sent again now.")
                              % {"id": message.pk})
        else:
            self.message_user(request, _("Message #%(id)s is %(status)s: nothing to retry.")
                              % {"id": message.pk, "status": message.get_status_display()},
                              messages.WARNING)
        return back_to(request, reverse("admin:core_outboxmessage_change", args=[message.pk]))

    @admin.action(description=gettext_lazy("Retry now (attempts start again from zero)"))
    def retry_now(self, request, queryset):
        """The outbox's retry, for every channel (a dataset release's message included:
        its eligibility is checked again before the attempt)."""
        done = sum(outbox.retry(message) for message in queryset)
        self.message_user(request, _("%(n)d message(s) re-queued.") % {"n": done})


class ThroughServiceAdmin(admin.ModelAdmin):
    """A model whose saves and deletions go through its services: a refusal
    (``DomainError``) is shown as a message and changes nothing (the view's transaction
    rolls back), instead of a server error. JSON is typed into the API parser's checks
    (``JSONDocumentField``)."""

    formfield_overrides = {models.JSONField: {"form_class": JSONDocumentField}}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, error_text(exc, fields=True), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ThroughServiceAdmin):
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


# --- the staff queues on the console's index ---------------------------------------------
#
# What needs platform staff, each queue with its count and, per item, its action (a link
# to the object's action page, or a button posting to a view that calls the service).
# Each app registers its queues from its admin module (core knows no app); the index shows
# them in ``order``, above the models.

QUEUE_LENGTH = 20  # items listed per queue; the heading counts them all


@dataclass(frozen=True)
class QueueAction:
    label: str
    url: str
    post: bool = False  # a button posting to ``url`` (``next``: back here); else a link


@dataclass(frozen=True)
class QueueItem:
    title: str
    url: str  # the object's page in the console
    detail: str = ""
    actions: tuple[QueueAction, ...] = ()


@dataclass(frozen=True)
class StaffQueue:
    key: str  # the section's HTML id
    title: str
    count: int
    items: list[QueueItem] = field(default_factory=list)
    empty: str = ""  # what the queue says when nothing waits
    all_url: str = ""  # the whole queue in its changelist


_queues: dict[str, tuple[int, Callable[[HttpRequest], StaffQueue | None]]] = {}


def register_queue(key: str, provider: Callable[[HttpRequest], StaffQueue | None], *,
                   order: int = 100) -> None:
    """``provider(request)`` → the queue, or None when the user may not act on it."""
    _queues[key] = (order, provider)


def staff_queues(request: HttpRequest) -> list[StaffQueue]:
    found = (provider(request) for _order, provider in sorted(_queues.values(),
                                                                key=lambda q: q[0]))
    return [queue for queue in found if queue is not None]


def may_act(request: HttpRequest, model) -> bool:
    """Whether the staff user may act on ``model``'s rows through a service: its change
    permission as the user holds it (the console's ``has_change_permission`` is off for
    records the application writes, whose actions still go through services)."""
    opts = model._meta
    return request.user.is_active and request.user.is_staff and request.user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}")


def back_to(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the request's ``next`` (a page of this site) or to ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = default
    return HttpResponseRedirect(target)


def when(moment: datetime | None, tz: str = "") -> str:
    """A moment in the console: the active language's short date-time format, in ``tz``
    (a hub's zone) or the platform's."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment, ZoneInfo(tz or settings.TIME_ZONE))
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def _message_item(message: OutboxMessage, request: HttpRequest, retry_label: str) -> QueueItem:
    change = reverse("admin:core_outboxmessage_change", args=[message.pk])
    detail = _("%(attempts)d attempt(s); created %(created)s; last error: %(error)s") % {
        "attempts": message.attempts, "created": when(message.created),
        "error": Truncator(message.last_error).chars(160) or "—"}
    retry = reverse("admin:core_outboxmessage_retry", args=[message.pk])
    return QueueItem(
        title=f"#{message.pk} {message.event_type} → {message.recipient}", url=change,
        detail=detail, actions=(QueueAction(retry_label, retry, post=True),))


def failed_deliveries_queue(request: HttpRequest) -> StaffQueue | None:
    """Messages given up after their last attempt: webhook deliveries, dataset releases
    (the release's own page shows it failed; retrying its message retries it) and
    e-mails."""
    if not may_act(request, OutboxMessage):
        return None
    failed = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).order_by(
        "-created", "-pk")
    count = failed.count()
    return StaffQueue(
        key="queue-failed-deliveries",
        title=ngettext("%(count)d failed delivery", "%(count)d failed deliveries", count)
        % {"count": count}, count=count,
        items=[_message_item(m, request, _("Retry")) for m in failed[:QUEUE_LENGTH]],
        empty=_("No delivery has failed."),
        all_url=reverse("admin:core_outboxmessage_changelist") + "?status__exact=failed")


def stuck_messages_queue(request: HttpRequest) -> StaffQueue | None:
    """Messages pending for long (not those held on purpose: see ``outbox.stuck_messages``)."""
    if not may_act(request, OutboxMessage):
        return None
    stuck = outbox.stuck_messages().filter(status=OutboxMessage.Status.PENDING).order_by(
        "created", "pk")
    count = stuck.count()
    return StaffQueue(
        key="queue-stuck-messages",
        title=ngettext("%(count)d outbox message stuck", "%(count)d outbox messages stuck",
                       count) % {"count": count}, count=count,
        items=[_message_item(m, request, _("Send now")) for m in stuck[:QUEUE_LENGTH]],
        empty=_("No outbox message is stuck."),
        all_url=reverse("admin:core_outboxmessage_changelist") + "?status__exact=pending")


register_queue("failed_deliveries", failed_deliveries_queue, order=30)
register_queue("stuck_messages", stuck_messages_queue, order=40)


def _index_with_queues(request, extra_context=None):
    """The console's index, with the staff queues above the models."""
    return AdminSite.index(admin.site, request,
                           {"staff_queues": staff_queues(request), **(extra_context or {})})


# The default site's index (its URL is built from ``site.index`` once every admin module
# is imported, so this replaces it before that).
admin.site.index = _index_with_queues
