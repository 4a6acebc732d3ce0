"""Utilisation (per hub and equipment, for a period) and billing (per SME, for a month) of
the operator's hubs, with charts drawn on the server (pygal, inline SVG without scripts,
as the trial pages do) and CSV downloads from the reports' own CSV code. Billing reads
statement lines (``billing.statements.report``): the month's issued statements and what
the next ones would carry, marked as not yet stated."""

from __future__ import annotations

import pygal
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from pygal.etree import etree
from pygal.style import Style

from billing.statements import report as billing_report
from bookings.reports import selectors as reports
from core.errors import ValidationFailed
from core.forms import add_errors
from trials.charts import STYLE, _strip_scripts, name_drawing

from ..access import operator_required
from ..forms_setup import ReportForm

# Drawn at the size it is read on a phone (the figure scrolls sideways below 600 px, see
# setup.css) with larger type, so labels stay legible instead of shrinking to 6 px.
REPORT_STYLE = Style(
    **{
        **STYLE.to_dict(),
        "label_font_size": 14,
        "major_label_font_size": 14,
        "legend_font_size": 14,
        "value_font_size": 14,
        "title_font_size": 16,
    }
)


def _number(value: float, places: int, *, pad: bool) -> str:
    """Money padded to its places ("1,240.00"); hours not ("16", "7.5", never "16.0")."""
    text = f"{value:,.{places}f}"
    return text if pad or "." not in text else text.rstrip("0").rstrip(".")


def _short(label: str, length: int = 26) -> str:
    """Long names would squeeze the bars out of the chart; the table beside has them whole."""
    return label if len(label) <= length else label[: length - 1].rstrip() + "…"


def _chart(chart_class, labels: list[str], series: dict[str, list], unit: str, places: int,
           *, title: str) -> str:
    """Without a drawn title: it is the figure's caption (reports.html), as on a phone the
    chart scrolls sideways and a title drawn centred in the SVG would be cut in half.
    ``title`` names the drawing (its ``<title>``, shown on hover)."""
    chart = chart_class(
        style=REPORT_STYLE,
        js=[],
        width=720,
        height=max(300, 90 + 36 * len(labels)),
        legend_at_bottom=True,
        print_values=False,
        truncate_legend=-1,
        value_formatter=lambda v: f"{_number(v, places, pad=places == 2)} {unit}",
    )
    chart.x_labels = [_short(label) for label in labels]
    for name, values in series.items():
        chart.add(name, values)
    tree = chart.render_tree()
    _strip_scripts(tree)
    name_drawing(tree, title)
    # Labels are names (user input): the XML serialiser escapes them.
    return mark_safe(etree.tostring(tree, encoding="unicode"))  # noqa: S308


def utilization_chart(rows) -> str:
    return _chart(
        pygal.HorizontalBar,
        # The hub is in the table beside; the chart keeps the equipment name readable.
        [r.equipment for r in rows],
        {
            _("Open hours"): [float(r.open_hours) for r in rows],
            _("Booked hours"): [float(r.booked_hours) for r in rows],
        },
        "h",
        1,
        title=_("Booked and open hours per equipment"),
    )


def billing_chart(bills) -> str:
    """Per SME: the voucher share and the firm's share of its month (stacked)."""
    return _chart(
        pygal.StackedBar,
        [bill.organization_name for bill in bills],
        {
            _("Voucher share"): [float(bill.voucher_share) for bill in bills],
            _("Firm's share"): [float(bill.sme_share) for bill in bills],
        },
        billing_report.CURRENCY,
        2,
        title=_("Billing per SME (%(currency)s)") % {"currency": billing_report.CURRENCY},
    )


def _csv(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _with_rates(figures) -> list[tuple]:
    return [(f, _percent(f.utilization), _percent(f.no_show_rate)) for f in figures]


@operator_required
def report_page(request):
    """``?export=utilization`` / ``?export=billing`` download the figures shown."""
    form = ReportForm.for_query(request.GET)
    context = {
        "form": form,
    }
    if not form.is_valid():
        return render(request, "console/setup/reports.html", context, status=400)
    start, end = form.period()
    month = form.cleaned_data["month"]
    try:
        rows = reports.utilization(operator=request.organization, start=start, end=end)
    except ValidationFailed as exc:
        add_errors(form, exc)
        return render(request, "console/setup/reports.html", context, status=400)
    billing = billing_report.billing(operator=request.organization, month=month)
    export = request.GET.get("export")
    first, last = form.cleaned_data["start"], form.cleaned_data["end"]
    if export == "utilization":
        return _csv(reports.utilization_csv(rows), f"utilization-{first:%Y%m%d}-{last:%Y%m%d}.csv")
    if export == "billing":
        return _csv(billing_report.billing_csv(billing), f"billing-{month:%Y-%m}.csv")
    bills = billing.smes
    query = {"start": f"{first:%Y-%m-%d}", "end": f"{last:%Y-%m-%d}", "month": f"{month:%Y-%m}"}
    context.update(
        {
            "first": first,
            "last": last,
            "month": month,
            "rows": _with_rates(rows),
            "hubs": _with_rates(reports.by_hub(rows)),
            "bills": bills,
            "billing": billing,
            "billing_total": billing.total,
            "currency": billing_report.CURRENCY,
            "utilization_chart": utilization_chart(rows) if rows else "",
            "billing_chart": billing_chart(bills) if bills else "",
            "utilization_csv": "?" + urlencode({**query, "export": "utilization"}),
            "billing_csv": "?" + urlencode({**query, "export": "billing"}),
        }
    )
    return render(request, "console/setup/reports.html", context)
