"""Charts of a trial's measurements, one per metric over time, drawn on the server as SVG
with pygal (no JavaScript, no CDN: the page inlines the markup).

Long trials hold many readings; each chart gets at most ``MAX_POINTS`` of them, every
n-th reading of the metric picked by the database (a row number per metric, a stride per
metric from the trial's summary), so one query serves every chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pygal
from django.db.models import Case, F, IntegerField, Value, When, Window
from django.db.models.functions import Mod, RowNumber
from pygal.etree import etree
from pygal.style import Style

from equipment.selectors import term

from . import ingest
from .models import Measurement, Trial

MAX_POINTS = 500
STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1b1f23",
    foreground_strong="#1b1f23", foreground_subtle="#57606a", opacity=".9",
    colors=("#0b3d91",), guide_stroke_color="#d0d7de", major_guide_stroke_color="#afb8c1",
    font_family='system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", '
                "sans-serif",
    label_font_size=13, major_label_font_size=13, title_font_size=15,
)
# Trial charts are drawn about as wide as a phone shows them, with larger type: an 800 px
# drawing squeezed into a 390 px screen had 5 px axis text. The title is the figure's
# caption (trials/_results.html), as in the operator's reports (console/setup/reports.py).
CHART_WIDTH, CHART_HEIGHT = 440, 280
CHART_MAX_WIDTH = 600
CHART_STYLE = Style(**{**STYLE.to_dict(), "label_font_size": 15, "major_label_font_size": 15,
                       "title_font_size": 16})


@dataclass(frozen=True)
class MetricChart:
    metric: str
    unit: str
    points: int  # readings drawn
    total: int  # readings stored
    svg: str
    title: str = ""  # shown as the figure's caption


def strides(summary: dict, max_points: int = MAX_POINTS) -> dict[str, int]:
    """Every n-th reading per metric so that at most ``max_points`` are drawn."""
    return {metric: max(1, math.ceil(s["count"] / max_points)) for metric, s in summary.items()}


def sampled_series(trial: Trial, max_points: int = MAX_POINTS
                   ) -> dict[str, list[tuple[datetime, float]]]:
    """The trial's readings per metric, thinned to at most ``max_points`` each, in one
    query (the first reading of each metric is always kept)."""
    steps = strides(trial.summary, max_points)
    if not steps:
        return {}
    names = {pk: name for pk, (name, _unit) in ingest.dictionary(trial).items()
             if name in steps}
    stride = Case(*[When(metric_id=pk, then=Value(steps[name])) for pk, name in names.items()],
                  default=Value(1), output_field=IntegerField())
    rows = (Measurement.objects.filter(trial=trial, metric_id__in=list(names))
            .annotate(position=Window(RowNumber(), partition_by=[F("metric_id")],
                                      order_by=[F("ts").asc(), F("id").asc()]))
            .annotate(offset=Mod(F("position") - 1, stride))
            .filter(offset=0)
            .order_by("metric_id", "ts", "id")
            .values_list("metric_id", "ts", "value"))
    series: dict[str, list[tuple[datetime, float]]] = {m: [] for m in steps}
    for metric_id, ts, value in rows:
        series[names[metric_id]].append((ts, value))
    return series


def _strip_scripts(svg) -> None:
    """pygal always embeds a small configuration script; the portal needs none."""
    for parent in svg.iter():
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)


def name_drawing(svg, title: str) -> None:
    """The drawing's first ``<title>`` (pygal's "Pygal", which browsers show on hover and
    assistive technology reads) says what the chart is, in the reader's language."""
    for element in svg.iter():
        if str(element.tag).rsplit("}", 1)[-1] == "title":
            element.text = title
            return


LABEL_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)  # minutes
MAX_LABELS = 6  # "14:30" fits six times across a phone-wide chart
MAX_LABELS_WITH_DATE = 3  # "12-01 14:30" three times


def time_labels(first: datetime, last: datetime, tz: ZoneInfo,
                max_labels: int = MAX_LABELS) -> list[datetime]:
    """Round wall-clock times in ``tz`` (every 5, 10, 15, 30 … minutes) across the trial,
    at most ``max_labels`` of them."""
    span = max((last - first).total_seconds() / 60, 1)
    step = next((s for s in LABEL_STEPS if span / s <= max_labels), LABEL_STEPS[-1])
    local = first.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = -(-((local - midnight).total_seconds() / 60) // step) * step
    out, moment = [], midnight + timedelta(minutes=minutes)
    while moment <= last and len(out) <= max_labels:
        out.append(moment)
        moment += timedelta(minutes=step)
    return out


def render(metric: str, unit: str, points: list[tuple[datetime, float]], tz: ZoneInfo,
           *, title: str) -> str:
    """An SVG line chart (times in ``tz``). Text is escaped by the XML serialiser.

    ``title`` is not drawn (the page's figure caption shows it) but names the drawing
    for assistive technology, in its ``<title>``."""
    days = {ts.astimezone(tz).date() for ts, _ in (points[0], points[-1])}
    one_day = len(days) == 1
    pattern = "%H:%M" if one_day else "%m-%d %H:%M"

    def clock(moment: datetime) -> str:  # pygal hands back naive UTC datetimes
        return moment.replace(tzinfo=UTC).astimezone(tz).strftime(pattern)

    chart = pygal.DateTimeLine(
        js=[], style=CHART_STYLE, width=CHART_WIDTH, height=CHART_HEIGHT, show_legend=False,
        show_dots=False, x_value_formatter=clock, y_title=unit or None, truncate_label=-1,
        x_labels=time_labels(points[0][0], points[-1][0], tz,
                             MAX_LABELS if one_day else MAX_LABELS_WITH_DATE),
        stroke_style={"width": 2}, margin_right=16, margin_left=8)
    chart.add(metric_label(metric), [(ts, value) for ts, value in points])
    tree = chart.render_tree()
    _strip_scripts(tree)
    # The page's CSS stretches a chart to its column; beyond 600 px (one chart on a wide
    # screen) the type would grow to 20 px and more.
    tree.set("style", f"max-width: {CHART_MAX_WIDTH}px")
    name_drawing(tree, title)
    return etree.tostring(tree, encoding="unicode")


def metric_label(metric: str) -> str:
    """The metric in words in the reader's language (``equipment.Metric``), else as stored."""
    found = term("metric", metric)
    return found[0] if found else metric


def trial_charts(trial: Trial, tz: ZoneInfo, *, title_for) -> list[MetricChart]:
    """One chart per metric of a collected trial; ``title_for(label, unit)`` names it
    (``label``: the metric in the reader's language, see ``metric_label``)."""
    out = []
    for metric, points in sorted(sampled_series(trial).items()):
        if not points:
            continue
        info = trial.summary.get(metric, {})
        unit = info.get("unit", "")
        title = title_for(metric_label(metric), unit)
        out.append(MetricChart(metric, unit, len(points), info.get("count", len(points)),
                               render(metric, unit, points, tz, title=title), title))
    return out
