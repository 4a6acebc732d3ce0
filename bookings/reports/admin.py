"""The admin console's report page (linked from the Booking changelist): utilization per
equipment for a period, with a server-rendered SVG chart (pygal, no scripts, no CDN) and
a CSV export. Platform staff see every operator's hubs, or pick one operator. Billing per
SME reads statement lines, a layer above bookings: its admin page is the statements'
(``billing.statements.admin``), linked from here by URL name."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pygal
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pygal.etree import etree
from pygal.style import DefaultStyle

from core.errors import ValidationFailed
from core.forms import DayField, MonthField, add_errors
from organizations.models import Organization

from ..models import Booking
from . import selectors as reports

TEMPLATE = "admin/bookings/booking/reports.html"


class ReportForm(forms.Form):
    operator = forms.ModelChoiceField(
        queryset=Organization.objects.filter(kind=Organization.Kind.FLAGSHIP).order_by("name"),
        required=False, empty_label=gettext_lazy("All operators"), to_field_name="slug",
        label=gettext_lazy("Hub operator"))
    # Days and months between 1970 and 2999 (the shared fields): year 9999 is a form
    # error, not an overflow when the day after the last is made.
    start = DayField(label=gettext_lazy("Start"),
                     widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = DayField(label=gettext_lazy("End"),
                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   help_text=gettext_lazy("To the end of this day (inclusive)."))
    month = MonthField(label=gettext_lazy("Billing month"),
                       help_text=gettext_lazy("YYYY-MM, in each hub's time zone."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Names the site's time zone: made in the reader's language, per form.
        self.fields["start"].help_text = _("From the start of this day (%(time_zone)s).") % {
            "time_zone": settings.TIME_ZONE}

    @classmethod
    def for_request(cls, query) -> ReportForm:
        """Bound to the query, or to this month when the page is first opened."""
        if not any(name in query for name in ("start", "end", "month", "operator")):
            today = timezone.localdate()
            first = today.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            query = {"start": f"{first:%Y-%m-%d}", "end": f"{last:%Y-%m-%d}",
                     "month": f"{first:%Y-%m}"}
        return cls(query)

    def period(self) -> tuple[datetime, datetime]:
        """The chosen days as [local midnight, local midnight after the last day)."""
        def midnight(day: date) -> datetime:
            return timezone.make_aware(datetime.combine(day, time()))
        return (midnight(self.cleaned_data["start"]),
                midnight(self.cleaned_data["end"] + timedelta(days=1)))

    def scope(self) -> reports.Operator:
        return self.cleaned_data.get("operator") or reports.ALL_HUBS


def _svg(chart) -> str:
    """Inline SVG markup without pygal's configuration script (the page runs none). Labels
    are user input (names): the XML serialiser escapes them."""
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return mark_safe(etree.tostring(tree, encoding="unicode"))  # noqa: S308


def _chart(chart_class, title: str, labels: list[str], series: dict[str, list], unit: str):
    chart = chart_class(
        title=title, style=DefaultStyle, js=[],
        width=900, height=max(300, 60 + 34 * len(labels)), legend_at_bottom=True,
        print_values=False, truncate_label=40, value_formatter=lambda v: f"{v:,.2f} {unit}")
    chart.x_labels = labels
    for name, values in series.items():
        chart.add(name, values)
    return chart


def utilization_chart(rows: list[reports.EquipmentUtilization]) -> str:
    labels = [f"{r.equipment} · {r.hub}" for r in rows]
    return _svg(_chart(pygal.HorizontalBar, _("Booked vs open hours per equipment"), labels, {
        _("Open hours"): [float(r.open_hours) for r in rows],
        _("Booked hours"): [float(r.booked_hours) for r in rows],
    }, "h"))


def percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _table(figures) -> list[tuple]:
    """Each row with its utilization and no-show rate as percentages, for the template."""
    return [(f, percent(f.utilization), percent(f.no_show_rate)) for f in figures]


def _csv(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def report_view(model_admin, request):
    """``?export=utilization`` or ``?export=billing`` download the figures shown."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = ReportForm.for_request(request.GET)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Booking._meta,
        "title": _("Utilization report"),
        "form": form,
    }
    if not form.is_valid():
        return TemplateResponse(request, TEMPLATE, context)
    start, end = form.period()
    month, scope = form.cleaned_data["month"], form.scope()
    try:
        rows = reports.utilization(operator=scope, start=start, end=end)
    except ValidationFailed as exc:
        add_errors(form, exc)
        return TemplateResponse(request, TEMPLATE, context)
    export = request.GET.get("export")
    if export == "utilization":
        return _csv(reports.utilization_csv(rows),
                    f"utilization-{form.cleaned_data['start']:%Y%m%d}-"
                    f"{form.cleaned_data['end']:%Y%m%d}.csv")
    query = {"start": f"{form.cleaned_data['start']:%Y-%m-%d}",
             "end": f"{form.cleaned_data['end']:%Y-%m-%d}", "month": f"{month:%Y-%m}"}
    if form.cleaned_data.get("operator"):
        query["operator"] = form.cleaned_data["operator"].slug
    context.update({
        "start": start, "end": end, "month": month,
        "rows": _table(rows), "hubs": _table(reports.by_hub(rows)),
        "utilization_chart": utilization_chart(rows) if rows else "",
        "utilization_csv": "?" + urlencode({**query, "export": "utilization"}),
        # Billing per SME: the statements' admin page, for the same month and operator.
        "billing_query": urlencode({k: v for k, v in query.items()
                                    if k in ("month", "operator")}),
    })
    return TemplateResponse(request, TEMPLATE, context)
