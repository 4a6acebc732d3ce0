from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from core.admin import RecordAdmin, RecordInline
from core.errors import DomainError, ValidationFailed
from core.tasks import send_now
from equipment.models import Equipment

from . import packages, selectors, services, sharing
from .models import (
    AgreementVersion,
    CollectorHeartbeat,
    Consent,
    DatasetRelease,
    ResultFile,
    SharingAgreement,
    SourceGap,
    StandingConsent,
    Trial,
    TrialMetric,
)
from .tasks import collect_trial_results


def _domain_errors(modeladmin, request, label: str, call) -> bool:
    """Run a service call for one object; say its refusal as a message."""
    try:
        call()
    except DomainError as exc:
        modeladmin.message_user(request, _("%(object)s: %(error)s")
                                % {"object": label, "error": exc.message}, messages.ERROR)
        return False
    return True


class TrialMetricInline(RecordInline):
    """The trial's channels (metric and unit); its readings, millions of rows, are read
    through the API, the CSV and the charts, never listed here."""

    model = TrialMetric
    fields = ["name", "unit"]
    verbose_name_plural = gettext_lazy("metrics (the readings are in the CSV download)")


class ResultFileInline(RecordInline):
    model = ResultFile
    fields = ["name", "file", "size", "sha256", "uploaded_by", "created"]


@admin.register(Trial)
class TrialAdmin(RecordAdmin):
    """Trials open when bookings are confirmed; staff never add one by hand."""

    list_display = ["trial_id", "booking", "status", "measurement_count", "attempts",
                    "collected_at", "updated"]
    list_filter = ["status", "booking__equipment__hub", "booking__equipment__category"]
    list_select_related = ["booking", "booking__equipment", "booking__equipment__hub"]
    search_fields = ["=booking__id", "booking__equipment__name", "booking__organization__name"]
    date_hierarchy = "created"
    readonly_fields = ["booking", "status", "attempts", "last_error", "collected_at",
                       "measurement_count", "summary", "gaps", "created", "updated"]
    inlines = [TrialMetricInline, ResultFileInline]
    actions = ["collect_now"]

    @admin.display(description="ID", ordering="pk")
    def trial_id(self, trial) -> int:
        return trial.pk

    def get_urls(self):
        return [path("test-source/<int:equipment_id>/",
                     self.admin_site.admin_view(self.test_source_view),
                     name="trials_test_source"), *super().get_urls()]

    @method_decorator(require_POST)
    def test_source_view(self, request, equipment_id: int):
        """"Test connection" of an equipment's saved result source (the button on the
        equipment's page): the answer comes back there as a message. A read: staff who may
        change equipment may run it."""
        if not request.user.has_perm("equipment.change_equipment"):
            raise PermissionDenied
        equipment = Equipment.objects.select_related("hub").filter(pk=equipment_id).first()
        if equipment is None:
            raise Http404
        try:
            check = selectors.check_result_source(equipment)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            level, text = _check_message(check)
            self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:equipment_equipment_change",
                                            args=[equipment.pk]))

    @admin.action(description=gettext_lazy("Collect results now"))
    def collect_now(self, request, queryset):
        sent = 0
        for trial in queryset:
            services.retry_collection(trial=trial)
            sent += send_now(collect_trial_results, trial.pk)
        self.message_user(request, ngettext("Collection enqueued for %(count)d trial.",
                                            "Collection enqueued for %(count)d trials.", sent)
                          % {"count": sent})


SHOWN_METRICS = 20


def _check_message(check: selectors.SourceCheck) -> tuple[int, str]:
    if not check.ok:
        return messages.ERROR, _("The test of the result source failed: %(error)s") % {
            "error": check.error}
    if not check.metrics:
        return messages.WARNING, _("Connected to the result source, but it gave no readings "
                                   "just now.")
    shown = ", ".join(f"{f.metric} = {f.value:g} {f.unit}".rstrip() if f.value is not None
                      else f.metric for f in check.metrics[:SHOWN_METRICS])
    if len(check.metrics) > SHOWN_METRICS:
        shown += ", …"
    found = ngettext(
        "Connected to the result source: %(count)d metric found (%(metrics)s).",
        "Connected to the result source: %(count)d metrics found (%(metrics)s).",
        len(check.metrics)) % {"count": len(check.metrics), "metrics": shown}
    if check.server_certificate:
        found += " " + _("The server's certificate (SHA-256): %(fingerprint)s.") % {
            "fingerprint": check.server_certificate}
    return messages.SUCCESS, found


@admin.register(ResultFile)
class ResultFileAdmin(RecordAdmin):
    list_display = ["name", "trial", "size", "sha256", "uploaded_by", "created"]
    search_fields = ["name", "sha256", "=trial__booking__id"]
    date_hierarchy = "created"
    readonly_fields = ["trial", "file", "name", "content_type", "size", "sha256", "uploaded_by",
                       "created"]


class ConsentInline(RecordInline):
    model = Consent
    fields = ["trial", "version", "granted_by", "granted_at", "revoked_at", "revoked_by",
              "standing"]


class AgreementVersionInline(RecordInline):
    model = AgreementVersion
    fields = ["number", "terms", "created"]


def _field(name: str):
    return SharingAgreement._meta.get_field(name)


class SharingAgreementForm(forms.ModelForm):
    endpoint_url = forms.URLField(assume_scheme="https", max_length=200,
                                  label=capfirst(_field("endpoint_url").verbose_name),
                                  help_text=_field("endpoint_url").help_text)
    license = forms.ChoiceField(choices=[(code, format_lazy("{} – {}", code, title))
                                         for code, (title, _url) in packages.LICENSES.items()],
                                label=capfirst(_field("license").verbose_name),
                                help_text=_field("license").help_text)

    class Meta:
        model = SharingAgreement
        fields = ["operator", "university", "hub", "title", "categories", "anonymize",
                  "shift_timestamps", "embargo_days", "license", "endpoint_url", "valid_from",
                  "valid_until"]


# Fields the console may change on an existing agreement, as the operator's API may.
UPDATABLE = ("title", "anonymize", "shift_timestamps", "embargo_days", "license",
             "endpoint_url", "valid_from", "valid_until")


@admin.register(SharingAgreement)
class SharingAgreementAdmin(admin.ModelAdmin):
    """Created through ``sharing.create_agreement`` (the signing secret is made there and
    shown once), changed through ``sharing.update_agreement`` (a change of terms makes a new
    version and asks the SMEs to consent again), revoked through ``sharing.revoke_agreement``
    (the 'Revoke' action: releases not delivered are withdrawn, built packages are no longer
    downloadable). The console holds no rule of its own."""

    form = SharingAgreementForm
    list_display = ["__str__", "operator", "university", "hub", "version", "anonymize",
                    "embargo_days", "license", "valid_from", "valid_until", "revoked_at"]
    list_filter = ["operator", "university", "anonymize"]
    list_select_related = ["operator", "university", "hub"]
    search_fields = ["title", "operator__name", "university__name", "hub__name"]
    filter_horizontal = ["categories"]
    date_hierarchy = "created"
    readonly_fields = ["version", "revoked_at", "created"]
    inlines = [AgreementVersionInline, ConsentInline]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # The operator is who the agreement is from; a revoked agreement never changes.
        if obj.revoked_at:
            return [*SharingAgreementForm.Meta.fields, *self.readonly_fields]
        return ["operator", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # releases and consents rest on it: revoke instead

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # the service refused: nothing was saved (rolled back)
            self.message_user(request, exc.message, messages.ERROR)
            if isinstance(exc, ValidationFailed):
                for field, errors in exc.field_errors().items():
                    self.message_user(request, _("%(field)s: %(errors)s")
                                      % {"field": field, "errors": " ".join(errors)},
                                      messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            made = sharing.create_agreement(
                operator=data["operator"], university=data["university"].slug,
                hub=data["hub"].slug, categories=[c.slug for c in data["categories"]],
                endpoint_url=data["endpoint_url"], valid_from=data["valid_from"],
                valid_until=data["valid_until"], anonymize=data["anonymize"],
                shift_timestamps=data["shift_timestamps"], embargo_days=data["embargo_days"],
                license=data["license"], title=data["title"])
            obj.pk, obj.signing_secret, obj.version = made.pk, made.signing_secret, made.version
            obj.created = made.created
            self.message_user(
                request, _("Signing secret for the university's endpoint (shown once, store it "
                           "now): %(secret)s") % {"secret": made.signing_secret},
                messages.WARNING)
            return
        changed = set(form.changed_data)
        made = sharing.update_agreement(
            agreement=SharingAgreement.objects.get(pk=obj.pk), by=obj.operator,
            data={field: data[field] for field in UPDATABLE if field in changed},
            categories=([c.slug for c in data["categories"]] if "categories" in changed
                        else None),
            university=data["university"].slug if "university" in changed else None,
            hub=data["hub"].slug if "hub" in changed else None)
        obj.version = made.version

    def save_related(self, request, form, formsets, change):
        # Categories were set by the service (a change of them is a change of terms); the
        # inlines are read-only records.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=gettext_lazy(
        "Revoke the selected agreements (withdraws undelivered releases)"))
    def revoke(self, request, queryset):
        done = sum(_domain_errors(self, request, str(agreement), lambda a=agreement:
                                  sharing.revoke_agreement(agreement=a, by=a.operator))
                   for agreement in queryset.select_related("operator"))
        self.message_user(request, ngettext("%(count)d agreement revoked.",
                                            "%(count)d agreements revoked.", done)
                          % {"count": done})


@admin.register(Consent)
class ConsentAdmin(RecordAdmin):
    """Consent is the SME's to give; the console only shows it."""

    list_display = ["trial", "agreement", "version", "granted_by", "granted_at", "revoked_at",
                    "standing"]
    list_filter = ["standing", "agreement__university"]
    list_select_related = ["trial", "agreement", "granted_by", "version"]
    search_fields = ["=trial__booking__id", "agreement__university__name"]
    date_hierarchy = "granted_at"
    readonly_fields = ["trial", "agreement", "version", "granted_by", "granted_at",
                       "revoked_at", "revoked_by", "standing"]



@admin.register(StandingConsent)
class StandingConsentAdmin(RecordAdmin):
    list_display = ["organization", "agreement", "version", "granted_at", "revoked_at"]
    list_select_related = ["organization", "agreement", "version"]
    readonly_fields = ["organization", "agreement", "version", "granted_by", "granted_at",
                       "revoked_at"]


@admin.register(DatasetRelease)
class DatasetReleaseAdmin(RecordAdmin):
    """Failed deliveries are visible (status, attempts, last error, held) and retried with
    the 'Retry delivery' action through ``sharing.retry_release`` (the outbox's retry of
    the release's message, whose page lists every attempt)."""

    list_display = ["id", "trial", "agreement", "recipient", "status", "held", "attempts",
                    "last_error", "next_attempt", "row_count", "delivered_at", "created"]
    list_filter = ["status", "held", "recipient"]
    list_select_related = ["trial", "agreement", "recipient", "message"]
    search_fields = ["=trial__booking__id", "sha256", "webhook_id"]
    date_hierarchy = "created"
    readonly_fields = ["trial", "agreement", "recipient", "consent", "status", "held", "terms",
                       "package", "sha256", "size", "row_count", "webhook_id", "attempts",
                       "next_attempt", "delivery_log", "last_error", "delivered_at",
                       "receipt", "withdrawn_reason", "created"]
    actions = ["retry_delivery"]

    @admin.display(description=gettext_lazy("Delivery attempts"))
    def attempts(self, release):
        return release.attempts

    @admin.display(description=gettext_lazy("Next attempt"))
    def next_attempt(self, release):
        return release.message.next_attempt_at if release.message_id else None

    @admin.display(description=gettext_lazy("Delivery log"))
    def delivery_log(self, release):
        if not release.message_id:
            return "—"
        url = reverse("admin:core_outboxmessage_change", args=[release.message_id])
        return format_html('<a href="{}">{}</a>', url,
                           _("Outbox message #%(id)s: every attempt")
                           % {"id": release.message_id})

    @admin.action(description=gettext_lazy(
        "Retry delivery now (attempts start again from zero)"))
    def retry_delivery(self, request, queryset):
        done = sum(_domain_errors(self, request,
                                  _("Release #%(release)s") % {"release": release.pk},
                                  lambda r=release:
                                  sharing.retry_release(release_id=r.pk, by_staff=request.user))
                   for release in queryset)
        self.message_user(request, ngettext("Delivery retried for %(count)d release.",
                                            "Delivery retried for %(count)d releases.", done)
                          % {"count": done})


@admin.register(SourceGap)
class SourceGapAdmin(RecordAdmin):
    """Periods without readings, as the collector recorded them."""

    list_display = ["equipment", "start", "end", "reason", "detail", "recorded"]
    list_filter = ["reason", "equipment__hub"]
    list_select_related = ["equipment"]
    search_fields = ["equipment__name", "detail"]
    date_hierarchy = "start"
    readonly_fields = ["equipment", "start", "end", "reason", "detail", "recorded"]


@admin.register(CollectorHeartbeat)
class CollectorHeartbeatAdmin(RecordAdmin):
    """The collectors (``manage.py run_collector``) as their last heartbeat said."""

    list_display = ["name", "host", "pid", "started", "beat", "written", "stopped"]
    search_fields = ["name", "host"]
    readonly_fields = ["name", "host", "pid", "started", "beat", "holding", "written",
                       "stopped"]
