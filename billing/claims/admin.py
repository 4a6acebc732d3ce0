"""Admin console of billing.claims (platform staff): the claims, read-only, with the
programme office's decisions recorded through the services — approve, paid (with the
payment's reference), reject (with the reason); lines read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors

from ..models import ClaimLine, SettlementClaim
from . import services
from .forms import PaidClaimForm, RejectClaimForm


class ClaimLineInline(admin.TabularInline):
    model = ClaimLine
    fields = ["booking", "grant", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SettlementClaim)
class SettlementClaimAdmin(admin.ModelAdmin):
    list_display = ["__str__", "provider", "programme", "month", "amount", "status",
                    "submitted_at", "paid_at"]
    list_filter = ["status", "programme", "month"]
    search_fields = ["programme__reference", "programme__name", "provider__name",
                     "payment_reference"]
    list_select_related = ["programme", "provider"]
    date_hierarchy = "month"
    inlines = [ClaimLineInline]
    actions = ["approve", "mark_paid", "reject"]

    def get_readonly_fields(self, request, obj=None):
        # Everything on a claim is written by its services.
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False  # operators draft claims (console or API)

    def has_delete_permission(self, request, obj=None):
        return False  # a claim is a record for the programme office

    def _apply(self, request, queryset, call) -> int:
        """``call(claim)`` for each selected claim (a service); each refusal shown with its
        claim; how many were done. Invalid input (the same for every claim) is raised, for
        the form to show."""
        done = 0
        for claim in queryset.order_by("pk"):
            try:
                call(claim)
            except ValidationFailed:
                raise
            except DomainError as exc:
                self.message_user(request, f"{claim}: {error_text(exc)}", messages.ERROR)
            else:
                done += 1
        return done

    @admin.action(description=gettext_lazy("Record approval of the selected claims"))
    def approve(self, request, queryset):
        done = self._apply(request, queryset, lambda claim: services.approve_claim(
            claim_id=claim.pk, by_user=request.user))
        if done:
            self.message_user(request, ngettext("%(count)d claim approved.",
                                                "%(count)d claims approved.", done)
                              % {"count": done})

    def _form_page(self, request, queryset, form, *, action: str, title: str, submit: str,
                   explanation: str):
        return TemplateResponse(request, "billing/claims/admin/decision.html", {
            **self.admin_site.each_context(request),
            "title": title, "opts": self.model._meta, "claims": queryset, "form": form,
            "action": action, "submit": submit, "explanation": explanation,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description=gettext_lazy("Record payment of the selected claims"))
    def mark_paid(self, request, queryset):
        form = PaidClaimForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                done = self._apply(request, queryset, lambda claim: services.mark_claim_paid(
                    claim_id=claim.pk, payment_reference=form.cleaned_data["payment_reference"],
                    by_user=request.user))
            except ValidationFailed as exc:
                add_errors(form, exc)
            else:
                if done:
                    self.message_user(request, ngettext("%(count)d claim marked paid.",
                                                        "%(count)d claims marked paid.", done)
                                      % {"count": done})
                return None
        return self._form_page(
            request, queryset, form, action="mark_paid", title=_("Record payment"),
            submit=_("Mark paid"),
            explanation=_("The programme office paid these approved claims. The payment's "
                          "reference is shown to the provider."))

    @admin.action(description=gettext_lazy("Record rejection of the selected claims"))
    def reject(self, request, queryset):
        form = RejectClaimForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                done = self._apply(request, queryset, lambda claim: services.reject_claim(
                    claim_id=claim.pk, reason=form.cleaned_data["reason"],
                    by_user=request.user))
            except ValidationFailed as exc:
                add_errors(form, exc)
            else:
                if done:
                    self.message_user(request, ngettext("%(count)d claim rejected.",
                                                        "%(count)d claims rejected.", done)
                                      % {"count": done})
                return None
        return self._form_page(
            request, queryset, form, action="reject", title=_("Record rejection"),
            submit=_("Reject"),
            explanation=_("The programme office rejected these claims. The reason is shown "
                          "to the provider, who may reopen the claim, correct it and submit "
                          "it again."))
