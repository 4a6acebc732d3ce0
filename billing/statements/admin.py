"""Admin console of billing.statements (platform staff): statements, read only (they are
issued through the service: the monthly sweep, the console, the API), their PDF and CSV,
and the billing report of every operator or one (statement lines, issued and not yet
stated), linked from the bookings' report page."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from billing.models import Statement, StatementLine
from core.admin import RecordAdmin, RecordInline
from core.forms import MonthField
from organizations.models import Organization

from . import documents, report


class LineInline(RecordInline):
    model = StatementLine
    fields = ["position", "kind", "line_kind", "booking", "service_date", "quantity", "unit",
              "unit_price", "amount", "voucher_share", "sme_share", "grant"]


class BillingForm(forms.Form):
    operator = forms.ModelChoiceField(
        queryset=Organization.objects.filter(kind=Organization.Kind.FLAGSHIP).order_by("name"),
        required=False, empty_label="All operators", to_field_name="slug")
    month = MonthField(label="Billing month", help_text="YYYY-MM, in each hub's time zone.")


@admin.register(Statement)
class StatementAdmin(RecordAdmin):
    list_display = ["code", "operator", "organization", "month", "total", "voucher_total",
                    "sme_total", "issued_at"]
    list_filter = ["operator", "month"]
    search_fields = ["organization__name", "operator__name", "=number"]
    date_hierarchy = "issued_at"
    readonly_fields = ["code", "operator", "organization", "month", "year", "number", "total",
                       "voucher_total", "sme_total", "issued_at", "issued_by", "documents"]
    fields = readonly_fields
    inlines = [LineInline]

    @admin.display(description="Documents")
    def documents(self, obj: Statement) -> str:
        url = reverse("admin:billing_statement_document", args=[obj.pk])
        return format_html('<a href="{}?as=pdf&lang=en">PDF (English)</a> · '
                           '<a href="{}?as=pdf&lang=zh-hans">PDF (中文)</a> · '
                           '<a href="{}?as=csv">CSV</a>', url, url, url)

    def get_urls(self):
        return [
            path("billing/", self.admin_site.admin_view(self.billing_view),
                 name="billing_statement_billing"),
            path("<int:pk>/document/", self.admin_site.admin_view(self.document_view),
                 name="billing_statement_document"),
            *super().get_urls(),
        ]

    def document_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        statement = self.get_object(request, str(pk))
        if statement is None:
            raise Http404
        if request.GET.get("as") == "csv":
            body, kind, name = (documents.statement_csv(statement), "text/csv; charset=utf-8",
                                documents.filename(statement, "csv"))
        else:
            language = documents.language_or_default(request.GET.get("lang"))
            body, kind, name = (documents.statement_pdf(statement, language), "application/pdf",
                                documents.filename(statement, "pdf", language))
        response = HttpResponse(body, content_type=kind)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def billing_view(self, request):
        """The billing report (``?export=csv`` downloads it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET
        if "month" not in query:
            query = {"month": f"{timezone.localdate():%Y-%m}"}
        form = BillingForm(query)
        context = {**self.admin_site.each_context(request), "opts": Statement._meta,
                   "title": "Billing report", "form": form}
        if form.is_valid():
            month: date = form.cleaned_data["month"]
            scope = form.cleaned_data.get("operator") or report.ALL_OPERATORS
            result = report.billing(operator=scope, month=month)
            if request.GET.get("export") == "csv":
                response = HttpResponse(report.billing_csv(result),
                                        content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = (
                    f'attachment; filename="billing-{month:%Y-%m}.csv"')
                return response
            context.update({"billing": result, "month": month,
                            "csv": "?" + urlencode({**{k: v for k, v in query.items()},
                                                    "export": "csv"})})
        return TemplateResponse(request, "billing/statements/admin_billing.html", context)
