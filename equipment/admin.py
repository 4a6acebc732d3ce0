"""The catalog in the admin console. Platform staff act through the catalog services
(``staff_user=request.user``, no organisation): equipment saves, status changes and
maintenance windows follow exactly the rules the API does, and cancel and notify the same
way. A change that would cancel bookings is shown first on a confirmation page listing
them (the same query the cancelling service runs)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from modeltranslation.admin import TranslationAdmin

from core.admin import ThroughServiceAdmin
from core.errors import DomainError, error_text
from core.forms import add_errors

from . import selectors, services
from .models import (
    Capability,
    Category,
    Equipment,
    EquipmentDocument,
    EquipmentPhoto,
    Hub,
    MaintenanceWindow,
    Metric,
    Qualification,
    SpecLabel,
)

CONFIRM = "_confirm_cancellations"


def _model_data(form, names) -> dict:
    """The form's cleaned values of plain model fields among ``names``."""
    concrete = {f.name for f in form._meta.model._meta.concrete_fields}
    return {name: form.cleaned_data[name] for name in names
            if name in concrete and name in form.cleaned_data}


class ThroughServicesAdmin(ThroughServiceAdmin):
    """Saves go through services. A refused change (``DomainError``) is shown as a message
    and changes nothing (the console's transaction rolls back); a change that would cancel
    bookings is confirmed first on a page listing them."""

    def pending_cancellations(self, request, object_id) -> list:
        """The bookings this POST would cancel; empty when it cancels none (or the form has
        errors, which the normal form view then shows)."""
        return []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            if request.method == "POST" and CONFIRM not in request.POST:
                # A change the service would refuse is refused before any preview.
                bookings = self.pending_cancellations(request, object_id)
                if bookings:
                    return self.confirmation_page(request, object_id, bookings)
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, error_text(exc, fields=True), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def confirmation_page(self, request, object_id, bookings) -> TemplateResponse:
        opts = self.model._meta
        repost = [(name, value) for name, values in request.POST.lists()
                  if name != "csrfmiddlewaretoken" for value in values]
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": _("Cancel these bookings?"),
            "bookings": bookings,
            "repost": repost,
            "confirm_name": CONFIRM,
            "object_id": object_id,
        }
        return TemplateResponse(request, "admin/confirm_cancellations.html", context)

    def report_cancelled(self, request, cancelled: list[int]) -> None:
        if cancelled:
            ids = ", ".join(f"#{pk}" for pk in cancelled)
            self.message_user(request, ngettext(
                "Cancelled booking %(ids)s; its SME is being told.",
                "Cancelled bookings %(ids)s; their SMEs are being told.",
                len(cancelled)) % {"ids": ids}, messages.WARNING)


class EquipmentInline(admin.TabularInline):
    """A hub's equipment, to open; it is changed on its own page (through the service)."""

    model = Equipment
    extra = 0
    fields = ["name", "slug", "category", "status", "hourly_rate", "approval_required"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Hub)
class HubAdmin(ThroughServicesAdmin, TranslationAdmin):
    list_display = ["name", "slug", "operator", "timezone", "address", "created"]
    list_filter = ["operator", "timezone"]
    search_fields = ["name", "slug", "address", "operator__name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created"]
    date_hierarchy = "created"
    inlines = [EquipmentInline]

    def get_readonly_fields(self, request, obj=None):
        # A hub stays with the operator that opened it (services.update_hub).
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["operator"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        if change:
            # As the hub's (stored) operator: the rules are the operator's.
            operator = Hub.objects.select_related("operator").get(pk=obj.pk).operator
            services.update_hub(hub=obj, by=operator, data=_model_data(form, form.changed_data))
            return
        created = services.create_hub(operator=form.cleaned_data["operator"], data=_model_data(
            form, [n for n in form.cleaned_data if n != "operator"]))
        obj.pk, obj.created = created.pk, created.created
        obj._state.adding, obj._state.db = False, created._state.db


class CatalogueWordAdmin(TranslationAdmin):
    """Dictionary entries in both languages, saved and removed through the service."""

    def save_model(self, request, obj, form, change):
        services.save_catalogue_word(word=obj, staff_user=request.user)

    def delete_model(self, request, obj):
        services.delete_catalogue_word(word=obj, staff_user=request.user)

    def delete_queryset(self, request, queryset):
        for word in queryset:
            self.delete_model(request, word)


@admin.register(Category)
class CategoryAdmin(CatalogueWordAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Capability)
class CapabilityAdmin(CatalogueWordAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(SpecLabel)
class SpecLabelAdmin(CatalogueWordAdmin):
    """The words for the keys of equipment specs ("travel_mm" → "Travel" / "行程", mm)."""

    list_display = ["key", "label", "unit"]
    search_fields = ["key", "label_en", "label_zh_hans"]


@admin.register(Metric)
class MetricAdmin(CatalogueWordAdmin):
    """The words for measured metrics ("cycle_time" → "Cycle time" / "节拍时间", s)."""

    list_display = ["key", "label", "unit"]
    search_fields = ["key", "label_en", "label_zh_hans"]


class MaintenanceWindowInline(admin.TabularInline):
    """Windows are added (cancelling what they overlap) or removed, never moved: a moved
    window would cancel nothing."""

    model = MaintenanceWindow
    extra = 0
    fields = ["start", "end", "reason", "created_by"]
    readonly_fields = ["created_by"]

    def has_change_permission(self, request, obj=None):
        return False


class UploadInlineForm(forms.ModelForm):
    """A new photo or document: its file is checked here by the service's own check (so a
    refusal shows at the file) and stored by the service when the equipment is saved."""

    file = forms.FileField(label=gettext_lazy("File"), required=False)

    # The service's check of an upload (raises DomainError): set by each kind below.
    check_upload: staticmethod

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk or not self.has_changed():
            return cleaned
        upload = cleaned.get("file")
        if not upload:
            self.add_error("file", _("Choose a file to upload."))
            return cleaned
        try:
            self.check_upload(upload)
        except DomainError as exc:
            add_errors(self, exc)
        return cleaned


class PhotoInlineForm(UploadInlineForm):
    class Meta:
        model = EquipmentPhoto
        fields = ["caption_en", "caption_zh_hans", "position"]
        # The read-only inline's column heading of a field the model lacks comes from here
        # (else Django shows the field's name, untranslated).
        labels = {"file": gettext_lazy("File")}

    check_upload = staticmethod(services.reencode_photo)


class DocumentInlineForm(UploadInlineForm):
    class Meta:
        model = EquipmentDocument
        fields = ["kind", "title_en", "title_zh_hans"]

    check_upload = staticmethod(services.check_document)


class OptionalUploadsFormSet(forms.BaseInlineFormSet):
    """A change form posted without this inline (a script, an older page) leaves the
    photos or documents as they are, instead of failing on a missing management form."""

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        total = f"{self.prefix}-TOTAL_FORMS"
        if data is not None and total not in data:
            data = data.copy()
            data.update({total: "0", f"{self.prefix}-INITIAL_FORMS": "0"})
            self.data = data


class PhotoInline(admin.TabularInline):
    """Photos are added (re-encoded, with a thumbnail) or removed, not replaced in place."""

    model = EquipmentPhoto
    form = PhotoInlineForm
    formset = OptionalUploadsFormSet
    extra = 0
    fields = ["preview", "file", "caption_en", "caption_zh_hans", "position"]
    readonly_fields = ["preview"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("Photo"))
    def preview(self, obj) -> str:
        if obj is None or obj.pk is None:
            return ""
        return format_html('<img src="{}" alt="" width="120" height="80">',
                           reverse("catalog:photo", args=[obj.pk, "thumb"]))


class DocumentInline(admin.TabularInline):
    """PDF documents (datasheets, safety rules), added or removed; always downloaded."""

    model = EquipmentDocument
    form = DocumentInlineForm
    formset = OptionalUploadsFormSet
    extra = 0
    fields = ["kind", "title_en", "title_zh_hans", "file", "filename", "size"]
    readonly_fields = ["filename", "size"]

    def has_change_permission(self, request, obj=None):
        return False


CONFIG = "result_source_config"


class EquipmentForm(forms.ModelForm):
    """The model reports a source configuration's errors by key
    (``result_source_config.topic``, as the API shows them): here they go on the
    configuration field, each naming its key."""

    def add_error(self, field, error):
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            moved: dict[str, list] = {}
            for name, errors in error.error_dict.items():
                if name.startswith(f"{CONFIG}."):
                    key = name.removeprefix(f"{CONFIG}.")
                    moved.setdefault(CONFIG, []).extend(
                        f"{key}: {text}" for e in errors for text in e.messages)
                else:
                    moved.setdefault(name, []).extend(errors)
            error = ValidationError(moved)
        super().add_error(field, error)


@admin.register(Equipment)
class EquipmentAdmin(ThroughServicesAdmin, TranslationAdmin):
    form = EquipmentForm
    list_display = ["name", "hub", "category", "status", "hourly_rate", "approval_required",
                    "qualification_required", "result_source_kind"]
    list_filter = ["status", "category", "hub", "approval_required", "qualification_required",
                   "result_source_kind"]
    list_select_related = ["hub", "category"]
    search_fields = ["name", "slug", "description", "hub__name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["capabilities"]
    readonly_fields = ["created", "updated", "test_connection"]
    date_hierarchy = "created"
    inlines = [MaintenanceWindowInline, PhotoInline, DocumentInline]
    fieldsets = [
        (None, {"fields": ["hub", "name", "slug", "category", "capabilities", "status",
                           "hourly_rate", "description", "specs"]}),
        (gettext_lazy("Booking policy"), {"fields": [
            "slot_granularity", "min_duration", "max_duration", "lead_time", "booking_horizon",
            "changeover_buffer", "approval_required", "qualification_required",
            "max_open_bookings_per_sme"]}),
        (gettext_lazy("Result source"), {"fields": [
            "result_source_kind", "result_source_url", "result_source_secret",
            "result_source_config", "test_connection"]}),
        (gettext_lazy("Audit"), {"fields": ["created", "updated"]}),
    ]

    @admin.display(description=gettext_lazy("Test connection"))
    def test_connection(self, obj) -> str:
        """A button posting this form to the trials console's test (where the sources
        are): it connects with the saved settings and comes back here with the answer."""
        if obj is None or obj.pk is None:
            return _("Save the equipment first.")
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post" '
            'formnovalidate>{}</button> <span class="help">{}</span>',
            reverse("admin:trials_test_source", args=[obj.pk]), _("Test the saved source"),
            _("Connects with the saved settings and reads a sample; unsaved changes are not "
              "used and nothing is stored."))

    def pending_cancellations(self, request, object_id) -> list:
        if object_id is None:
            return []  # new equipment has no bookings
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return []
        stored = Equipment.objects.select_related("hub").get(pk=obj.pk)
        form = self.get_form(request, obj, change=True)(request.POST, request.FILES,
                                                        instance=obj)
        if not form.is_valid():
            return []
        found = {}
        if "status" in form.cleaned_data:
            for b in selectors.bookings_cancelled_by_status(
                    equipment=stored, new_status=form.cleaned_data["status"]):
                found[b.pk] = b
        for formset in self._window_formsets(request, obj):
            if not formset.is_valid():
                return []
            for f in formset.forms:
                if f.instance.pk or not f.has_changed() or formset._should_delete_form(f):
                    continue
                for b in selectors.bookings_cancelled_by_unavailability(
                        equipment=stored, start=f.cleaned_data["start"],
                        end=f.cleaned_data["end"], maintenance=True):
                    found[b.pk] = b
        return sorted(found.values(), key=lambda b: (b.start, b.pk))

    def _window_formsets(self, request, obj):
        for formset_class, inline in self.get_formsets_with_inlines(request, obj):
            if inline.model is MaintenanceWindow:
                yield formset_class(request.POST, request.FILES, instance=obj,
                                    prefix=formset_class.get_default_prefix(),
                                    queryset=inline.get_queryset(request))

    def save_model(self, request, obj, form, change):
        if change:
            equipment = services.update_equipment(
                equipment=obj, by=None, staff_user=request.user, by_user=request.user,
                data=_model_data(form, form.changed_data))
            self.report_cancelled(request, equipment.cancelled_bookings)
            return
        data = _model_data(form, [n for n in form.cleaned_data if n != "hub"])
        created = services.create_equipment(hub=form.cleaned_data["hub"], by=None,
                                            staff_user=request.user, data=data)
        # The console goes on with its own instance (capabilities, inlines, the log).
        obj.pk, obj.created, obj.updated = created.pk, created.created, created.updated
        obj._state.adding, obj._state.db = False, created._state.db

    def save_formset(self, request, form, formset, change):
        if formset.model in (EquipmentPhoto, EquipmentDocument):
            return self._save_uploads(request, form, formset)
        if formset.model is not MaintenanceWindow:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.deleted_forms:
            if f.instance.pk:
                services.delete_maintenance_window(window=f.instance, by=None,
                                                   staff_user=request.user)
                formset.deleted_objects.append(f.instance)
        for f in formset.forms:
            if f.instance.pk or not f.has_changed() or formset._should_delete_form(f):
                continue
            window = services.create_maintenance_window(
                equipment=form.instance, by=None, staff_user=request.user,
                by_user=request.user, start=f.cleaned_data["start"],
                end=f.cleaned_data["end"], reason=f.cleaned_data["reason"])
            formset.new_objects.append(window)
            self.report_cancelled(request, window.cancelled_bookings)
        return None


    def _save_uploads(self, request, form, formset) -> None:
        """Photos and documents through the services: removed, or added (each checked
        again by the service, which stores it)."""
        photos = formset.model is EquipmentPhoto
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.deleted_forms:
            if f.instance.pk:
                if photos:
                    services.delete_equipment_photo(photo=f.instance, by=None,
                                                    staff_user=request.user)
                else:
                    services.delete_equipment_document(document=f.instance, by=None,
                                                       staff_user=request.user)
                formset.deleted_objects.append(f.instance)
        for f in formset.forms:
            if f.instance.pk or not f.has_changed() or formset._should_delete_form(f):
                continue
            d = f.cleaned_data
            if photos:
                added = services.add_equipment_photo(
                    equipment=form.instance, by=None, staff_user=request.user,
                    upload=d["file"], caption_en=d.get("caption_en") or "",
                    caption_zh_hans=d.get("caption_zh_hans") or "",
                    position=d.get("position") or 0)
            else:
                added = services.add_equipment_document(
                    equipment=form.instance, by=None, staff_user=request.user,
                    upload=d["file"], kind=d["kind"], title_en=d.get("title_en") or "",
                    title_zh_hans=d.get("title_zh_hans") or "")
            formset.new_objects.append(added)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ThroughServicesAdmin):
    """Windows are planned (through the service, cancelling what they overlap) and removed;
    a planned window is not edited: move it by removing it and planning a new one."""

    list_display = ["equipment", "start", "end", "reason", "created_by", "created"]
    list_filter = ["equipment__hub"]
    list_select_related = ["equipment", "equipment__hub", "created_by"]
    search_fields = ["equipment__name", "reason"]
    readonly_fields = ["created", "created_by"]
    date_hierarchy = "start"

    def has_change_permission(self, request, obj=None):
        return False

    def pending_cancellations(self, request, object_id) -> list:
        if object_id is not None:
            return []
        form = self.get_form(request, None, change=False)(request.POST, request.FILES)
        if not form.is_valid():
            return []
        d = form.cleaned_data
        return selectors.bookings_cancelled_by_unavailability(
            equipment=d["equipment"], start=d["start"], end=d["end"], maintenance=True)

    def save_model(self, request, obj, form, change):
        d = form.cleaned_data
        window = services.create_maintenance_window(
            equipment=d["equipment"], by=None, staff_user=request.user, by_user=request.user,
            start=d["start"], end=d["end"], reason=d["reason"])
        obj.pk, obj.created, obj.created_by = window.pk, window.created, window.created_by
        obj._state.adding, obj._state.db = False, window._state.db
        self.report_cancelled(request, window.cancelled_bookings)

    def delete_model(self, request, obj):
        services.delete_maintenance_window(window=obj, by=None, staff_user=request.user)

    def delete_queryset(self, request, queryset):
        for window in queryset:
            self.delete_model(request, window)


@admin.register(Qualification)
class QualificationAdmin(ThroughServicesAdmin):
    list_display = ["user", "equipment", "category", "granted_by", "granted", "expires"]
    list_filter = ["category"]
    list_select_related = ["user", "equipment", "category", "granted_by"]
    search_fields = ["user__email", "user__username", "equipment__name", "category__name"]
    autocomplete_fields = ["user", "equipment"]
    readonly_fields = ["granted", "granted_by"]
    date_hierarchy = "granted"

    def save_model(self, request, obj, form, change):
        data = _model_data(form, services.QUALIFICATION_FIELDS)
        if change:
            stored = Qualification.objects.select_related("equipment__hub").get(pk=obj.pk)
            services.update_qualification(qualification=stored, data=data, by=None,
                                          staff_user=request.user)
        else:
            obj.pk = services.grant_qualification(by=None, staff_user=request.user,
                                                  **data).pk
