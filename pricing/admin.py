"""Prices and vouchers in the admin console (platform staff). Every save goes through the
set-up services (``pricing.setup``) as platform staff: a rate card with its rates and
items in one call, a programme with its providers and categories, a grant, a declared
affiliation; revoking a grant and ending an affiliation are actions with their service.
A refusal is shown as a message and changes nothing. Quotes are read-only: they are
written by the pricing services only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from modeltranslation.admin import TranslationAdmin, TranslationTabularInline

from core.admin import RecordAdmin, RecordInline
from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors
from equipment.admin import ThroughServicesAdmin

from . import setup
from .models import (
    Affiliation,
    EquipmentRate,
    PricedItem,
    Quote,
    QuoteLine,
    RateCard,
    VoucherGrant,
    VoucherProgramme,
)


def _adopt(obj, saved) -> None:
    """The console goes on with its own instance (the log, the redirect): give it the
    saved row's identity."""
    obj.pk = saved.pk
    obj._state.adding, obj._state.db = False, saved._state.db


def _no_formset_changes(formsets) -> None:
    """The change message reads what formsets saved; the service saved it instead."""
    for formset in formsets:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _rows(formset) -> list[dict]:
    """The rows a formset keeps: filled-in forms not marked for deletion."""
    return [f.cleaned_data for f in formset.forms
            if f.cleaned_data and not formset._should_delete_form(f)]


# --- rate cards ----------------------------------------------------------------------------


class EquipmentRateInline(admin.TabularInline):
    model = EquipmentRate
    extra = 0
    fields = ["equipment", "hourly_rate", "assisted_hourly_surcharge", "setup_fee"]
    autocomplete_fields = ["equipment"]


class PricedItemInline(TranslationTabularInline):
    model = PricedItem
    extra = 0
    fields = ["code", "name", "kind", "unit", "unit_price"]


@admin.register(RateCard)
class RateCardAdmin(ThroughServicesAdmin, TranslationAdmin):
    """A card with its equipment rates and items, saved in one service call (the hub's
    rules: equipment at the hub, prices not negative, an item on a quote kept)."""

    list_display = ["name", "hub", "valid_from", "valid_until", "created_by", "created"]
    list_filter = ["hub"]
    list_select_related = ["hub", "created_by"]
    search_fields = ["name", "hub__name", "hub__slug"]
    date_hierarchy = "valid_from"
    readonly_fields = ["created_by", "created"]
    fields = ["hub", "name", "valid_from", "valid_until", "created_by", "created"]
    inlines = [EquipmentRateInline, PricedItemInline]

    def has_delete_permission(self, request, obj=None):
        return False  # its items may be on quotes; a card ends (valid until) instead

    def save_model(self, request, obj, form, change):
        """Written with its rates and items by ``save_related`` (one service call)."""
        return None

    def save_related(self, request, form, formsets, change):
        rates, items = [], []
        for formset in formsets:
            if formset.model is EquipmentRate:
                rates = _rows(formset)
            elif formset.model is PricedItem:
                items = _rows(formset)
        data = form.cleaned_data
        card = setup.save_rate_card(
            hub=data["hub"], operator=None, by_user=request.user,
            name=data.get("name_en") or data.get("name") or "",
            name_zh_hans=data.get("name_zh_hans") or "",
            valid_from=data["valid_from"], valid_until=data.get("valid_until"),
            rates=rates, items=items, card=form.instance if change else None)
        _adopt(form.instance, card)
        _no_formset_changes(formsets)


# --- voucher programmes and grants ---------------------------------------------------------


@admin.register(VoucherProgramme)
class VoucherProgrammeAdmin(ThroughServicesAdmin, TranslationAdmin):
    list_display = ["reference", "name", "issuer", "subsidy_share", "cap_per_sme_year",
                    "cap_per_use", "valid_from", "valid_until", "claimant"]
    list_filter = ["claimant", "providers"]
    search_fields = ["reference", "name", "issuer"]
    filter_horizontal = ["providers", "categories"]
    readonly_fields = ["created"]
    fields = ["name", "issuer", "reference", "subsidy_share", "cap_per_sme_year",
              "cap_per_use", "valid_from", "valid_until", "claimant", "providers",
              "categories", "created"]

    def has_delete_permission(self, request, obj=None):
        return False  # grants and quotes refer to it

    def save_model(self, request, obj, form, change):
        """Written with its providers and categories by ``save_related``."""
        return None

    def save_related(self, request, form, formsets, change):
        data = {k: v for k, v in form.cleaned_data.items() if k in setup.PROGRAMME_FIELDS}
        setup.save_programme(data=data, providers=form.cleaned_data.get("providers"),
                             categories=form.cleaned_data.get("categories"),
                             by_user=request.user, programme=form.instance)
        _no_formset_changes(formsets)


class RevokeForm(forms.Form):
    # Not required here: the service says what is missing.
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        max_length=setup.REASON_MAX_LENGTH,
        help_text=gettext_lazy("Kept with the grant: e.g. the issuer's notice withdrawing it."))


class UsedFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("current", _("Not revoked")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "current":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(VoucherGrant)
class VoucherGrantAdmin(ThroughServicesAdmin):
    """Grants are entered (``grant_voucher``) and revoked with a reason (``revoke_grant``);
    a grant is not edited: ``used`` is the bookings', kept under the grant's lock."""

    list_display = ["reference_number", "organization", "programme", "amount", "used",
                    "remaining_amount", "valid_from", "valid_until", "revoked_at"]
    list_filter = [UsedFilter, "programme"]
    list_select_related = ["organization", "programme"]
    search_fields = ["reference_number", "organization__name", "programme__reference"]
    autocomplete_fields = ["organization"]
    add_fields = ["programme", "organization", "reference_number", "amount", "valid_from",
                  "valid_until"]
    shown = [*add_fields, "used", "remaining_amount", "granted_by", "created", "revoked_at",
             "revoked_reason"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.shown

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.shown

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("remaining (CNY)"))
    def remaining_amount(self, grant) -> str:
        return f"{grant.remaining:.2f}" if grant.pk else "—"

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a grant's page is editable
        data = form.cleaned_data
        grant = setup.grant_voucher(
            programme_id=data["programme"].pk, organization=data["organization"],
            amount=data["amount"], valid_from=data["valid_from"],
            valid_until=data["valid_until"], reference_number=data["reference_number"],
            by_user=request.user)
        _adopt(obj, grant)

    @admin.action(description=gettext_lazy("Revoke the selected grants (with a reason)"))
    def revoke(self, request, queryset):
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, refused, invalid = 0, [], None
            for grant in queryset:
                try:
                    setup.revoke_grant(grant_id=grant.pk, reason=form.cleaned_data["reason"],
                                       by_user=request.user)
                except ValidationFailed as exc:  # the input (the reason): same for every grant
                    invalid = exc
                    break
                except DomainError as exc:
                    refused.append(f"{grant.reference_number}: {error_text(exc)}")
                else:
                    done += 1
            if invalid is not None and not done:  # the form again, the refusal at its field
                add_errors(form, invalid)
                return self._revoke_page(request, queryset, form)
            if done:
                self.message_user(request, ngettext(
                    "%(n)d grant revoked; what it has not paid can no longer be used.",
                    "%(n)d grants revoked; what they have not paid can no longer be used.",
                    done) % {"n": done})
            for text in refused:
                self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return self._revoke_page(request, queryset, form)

    def _revoke_page(self, request, queryset, form) -> TemplateResponse:
        return TemplateResponse(request, "pricing/admin/revoke_grants.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": _("Revoke voucher grants"), "grants": queryset, "form": form,
            "action": "revoke",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)},
            status=400 if form.errors else 200)


@admin.register(Affiliation)
class AffiliationAdmin(ThroughServicesAdmin):
    """Declared (``declare_affiliation``) and ended (``end_affiliation``); not edited."""

    list_display = ["organization", "affiliate", "kind", "declared_at", "ended_at"]
    list_filter = ["kind"]
    list_select_related = ["organization", "affiliate"]
    search_fields = ["organization__name", "affiliate__name", "note"]
    autocomplete_fields = ["organization", "affiliate"]
    add_fields = ["organization", "affiliate", "kind", "note"]
    shown = [*add_fields, "declared_by", "declared_at", "ended_at"]
    actions = ["end"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.shown

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.shown

    def has_delete_permission(self, request, obj=None):
        return False  # an affiliation ends; its record stays

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on an affiliation's page is editable
        data = form.cleaned_data
        affiliation = setup.declare_affiliation(
            organization=data["organization"], affiliate=data["affiliate"], kind=data["kind"],
            note=data.get("note", ""), by_user=request.user)
        _adopt(obj, affiliation)

    @admin.action(description=gettext_lazy("End the selected affiliations"))
    def end(self, request, queryset):
        done = 0
        for affiliation in queryset:
            try:
                setup.end_affiliation(affiliation_id=affiliation.pk, by_user=request.user)
            except DomainError as exc:
                self.message_user(request, f"{affiliation}: {error_text(exc)}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, ngettext("%(n)d affiliation ended.",
                                                "%(n)d affiliations ended.", done)
                              % {"n": done})


# --- quotes (read-only) --------------------------------------------------------------------


class QuoteLineInline(RecordInline):
    model = QuoteLine
    fields = ["position", "kind", "equipment", "item", "start", "end", "quantity", "unit",
              "unit_price", "amount", "voucher_share", "sme_share"]


@admin.register(Quote)
class QuoteAdmin(RecordAdmin):
    list_display = ["__str__", "kind", "status", "organization", "hub", "start", "total",
                    "voucher_total", "sme_total", "created"]
    list_filter = ["kind", "status", "hub"]
    list_select_related = ["organization", "hub"]
    search_fields = ["organization__name", "hub__name", "grant__reference_number"]
    date_hierarchy = "created"
    readonly_fields = ["kind", "status", "hub", "organization", "origin", "start", "end",
                       "assisted", "grant", "shortfall", "total", "voucher_total",
                       "sme_total", "valid_until", "note", "created_by", "created",
                       "decided_at"]
    inlines = [QuoteLineInline]
