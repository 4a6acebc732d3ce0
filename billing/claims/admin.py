"""Admin console of billing.claims (platform staff): the claims, read-only, with the
programme office's decisions recorded through the services — approve, paid (with the
payment's reference), reject (with the reason) — each also written to the claim's admin
history; lines read-only; the evidence ZIP (the bundle the provider downloads)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError, ValidationFailed, error_text
from core.forms import add_errors

from ..models import ClaimLine, SettlementClaim
from ..statements.admin import MonthFilter, booking_label, month_label
from . import evidence, services
from .forms import PaidClaimForm, RejectClaimForm


class ClaimLineInline(admin.TabularInline):
    model = ClaimLine
    fields = ["booking_when", "grant", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("booking__equipment__hub",
                                                            "grant")

    @admin.display(description=gettext_lazy("Booking"))
    def booking_when(self, line: ClaimLine) -> str:
        return booking_label(line.booking)


@admin.register(SettlementClaim)
class SettlementClaimAdmin(admin.ModelAdmin):
    list_display = ["__str__", "provider", "programme", "month_shown", "number", "amount",
                    "status", "submitted_at", "paid_at"]
    list_filter = ["status", "programme", MonthFilter]
    search_fields = ["programme__reference", "programme__name", "provider__name",
                     "payment_reference"]
    list_select_related = ["programme", "provider"]
    inlines = [ClaimLineInline]
    actions = ["approve", "mark_paid", "reject"]

    def get_readonly_fields(self, request, obj=None):
        # Everything on a claim is written by its services.
        names = [field.name for field in self.model._meta.fields]
        names[names.index("month")] = "month_shown"
        return [*names, "evidence"]

    @admin.display(description=gettext_lazy("month"), ordering="month")
    def month_shown(self, claim: SettlementClaim) -> str:
        return month_label(claim.month)

    @admin.display(description=gettext_lazy("Evidence"))
    def evidence(self, claim: SettlementClaim) -> str:
        if claim.pk is None:
            return "—"
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:billing_settlementclaim_evidence", args=[claim.pk]),
                           _("Download the evidence (ZIP)"))

    def get_urls(self):
        return [
            path("<int:pk>/evidence/", self.admin_site.admin_view(self.evidence_view),
                 name="billing_settlementclaim_evidence"),
            *super().get_urls(),
        ]

    def evidence_view(self, request, pk: int):
        """The claim's evidence ZIP, the same bundle its provider downloads."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        claim = self.get_object(request, str(pk))
        if claim is None:
            raise Http404(_("No such settlement claim."))
        return evidence.bundle_response(claim)

    def _record(self, request, claim: SettlementClaim, message: str) -> None:
        """The decision in the claim's admin history (who, when, what)."""
        self.log_change(request, claim, message)

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
        def approve(claim):
            services.approve_claim(claim_id=claim.pk, by_user=request.user)
            self._record(request, claim, _("Recorded the programme office's approval."))

        done = self._apply(request, queryset, approve)
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
            def pay(claim):
                paid = services.mark_claim_paid(
                    claim_id=claim.pk, payment_reference=form.cleaned_data["payment_reference"],
                    by_user=request.user)
                self._record(request, claim,
                             _("Recorded the payment, reference: %(reference)s")
                             % {"reference": paid.payment_reference})

            try:
                done = self._apply(request, queryset, pay)
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
            def reject(claim):
                rejected = services.reject_claim(claim_id=claim.pk,
                                                 reason=form.cleaned_data["reason"],
                                                 by_user=request.user)
                self._record(request, claim, _("Recorded the rejection, reason: %(reason)s")
                             % {"reason": rejected.reason})

            try:
                done = self._apply(request, queryset, reject)
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
