"""Admin console of billing.statements (platform staff): statements, read only (they are
issued through the service: the monthly sweep, the console, the API), their PDF and CSV,
and the billing report of every operator or one (statement lines, issued and not yet
stated), linked from the bookings' report page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format, time_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Statement, StatementLine
from core.admin import RecordAdmin, RecordInline
from core.forms import MonthField, parse_month
from organizations.models import Organization

from . import documents, report


class MonthFilter(admin.SimpleListFilter):
    """By calendar month (the months that have rows), not by "today / past 7 days": a
    statement's or claim's month is a month, stored as its first day."""

    title = gettext_lazy("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = model_admin.get_queryset(request).dates("month", "month", order="DESC")
        return [(f"{month:%Y-%m}", month_label(month)) for month in months]

    def queryset(self, request, queryset):
        month = parse_month(self.value())
        return queryset if month is None else queryset.filter(month=month)


def month_label(month: date | None) -> str:
    """The month as the reader says it: "December 2026", "2026年12月"."""
    return "" if month is None else date_format(month, "YEAR_MONTH_FORMAT")


def quantity_label(value: Decimal, unit_label: str) -> str:
    """2.5000 hours as "2.5 hours" (the stored scale trimmed, in the reader's format)."""
    return f"{number_format(documents.quantity(value))} {unit_label}"


def booking_label(booking) -> str:
    """The booking linked, with its period in its hub's time (not the server's)."""
    tz = ZoneInfo(booking.equipment.hub.timezone)
    start, end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    url = reverse("admin:bookings_booking_change", args=[booking.pk])
    return format_html('<a href="{}">#{}</a> {} – {} <span class="quiet">{}</span>', url,
                       booking.pk, date_format(start, "SHORT_DATETIME_FORMAT"),
                       time_format(end, "TIME_FORMAT"), start.tzname())


class LineInline(RecordInline):
    """The statement's lines, narrow enough for a laptop screen: what each is for (in the
    reader's language), the booking in its hub's time, the amounts."""

    model = StatementLine
    fields = ["position", "description", "booking_when", "quantity_unit", "unit_price",
              "amount", "voucher", "sme_share"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(
            "booking__equipment__hub", "quote_line__item", "quote_line__equipment", "grant")

    @admin.display(description=gettext_lazy("Description"))
    def description(self, line: StatementLine) -> str:
        return documents.describe(line)

    @admin.display(description=gettext_lazy("Booking"))
    def booking_when(self, line: StatementLine) -> str:
        return booking_label(line.booking)

    @admin.display(description=gettext_lazy("Quantity"))
    def quantity_unit(self, line: StatementLine) -> str:
        return quantity_label(line.quantity, line.get_unit_display())

    @admin.display(description=gettext_lazy("Voucher share"))
    def voucher(self, line: StatementLine) -> str:
        if not line.grant_id:
            return number_format(line.voucher_share, 2)
        return format_html('{}<br><span class="quiet">{}</span>',
                           number_format(line.voucher_share, 2), line.grant.reference_number)


class BillingForm(forms.Form):
    operator = forms.ModelChoiceField(
        queryset=Organization.objects.filter(kind=Organization.Kind.FLAGSHIP).order_by("name"),
        required=False, empty_label=gettext_lazy("All operators"), to_field_name="slug",
        label=gettext_lazy("Hub operator"))
    month = MonthField(label=gettext_lazy("Billing month"),
                       help_text=gettext_lazy("YYYY-MM, in each hub's time zone."))


@admin.register(Statement)
class StatementAdmin(RecordAdmin):
    list_display = ["code", "operator", "organization", "month_shown", "total",
                    "voucher_total", "sme_total", "issued_at"]
    list_filter = ["operator", MonthFilter]
    list_select_related = ["operator", "organization"]
    search_fields = ["organization__name", "operator__name", "=number"]
    date_hierarchy = "issued_at"
    readonly_fields = ["code", "operator", "organization", "month_shown", "year", "number",
                       "total", "voucher_total", "sme_total", "issued_at", "issued_by",
                       "documents"]
    fields = readonly_fields
    inlines = [LineInline]

    @admin.display(description=gettext_lazy("Statement number"), ordering="number")
    def code(self, obj: Statement) -> str:
        return obj.code

    @admin.display(description=gettext_lazy("month"), ordering="month")
    def month_shown(self, obj: Statement) -> str:
        return month_label(obj.month)

    @admin.display(description=gettext_lazy("Documents"))
    def documents(self, obj: Statement) -> str:
        url = reverse("admin:billing_statement_document", args=[obj.pk])
        return format_html('<a href="{}?as=pdf&lang=en">{}</a> · '
                           '<a href="{}?as=pdf&lang=zh-hans">{}</a> · '
                           '<a href="{}?as=csv">{}</a>', url, _("PDF (English)"), url,
                           _("PDF (Chinese)"), url, _("Download CSV"))

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
                   "title": _("Billing report"), "form": form}
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
