"""Trial results in the portal: the SME's trials, one trial's summary and charts (and,
while the booking is checked in, a live panel refreshed with htmx), its measurements as
CSV, and the data packages delivered to universities under its consent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from bookings.models import Booking
from bookings.reports.selectors import usage
from core import csv as core_csv
from core.files import file_response
from equipment.wording import duration
from organizations.portal import not_found_as_404, sme_required

from ..charts import metric_label, trial_charts
from ..charts import render as render_chart
from ..forms import ConsentForm, StandingConsentForm
from ..models import DatasetRelease, SourceGap, Trial
from ..selectors import (
    LiveView,
    download_rows,
    live_view,
    trial_for,
    trial_gaps,
    trials_visible_to,
)
from .consent import panels, rights

TRIALS_PAGE = 20


@sme_required
def trial_list(request):
    trials = trials_visible_to(request.organization).order_by("-booking__start", "-pk")
    page = Paginator(trials, TRIALS_PAGE).get_page(request.GET.get("page"))
    return render(request, "trials/trial_list.html", {"page": page})


def _summary_rows(trial: Trial) -> list[dict]:
    rows = []
    for metric, s in sorted(trial.summary.items()):
        rows.append({"metric": metric, "unit": s.get("unit", ""), "count": s.get("count"),
                     "min": s.get("min"), "max": s.get("max"), "mean": s.get("mean"),
                     "first": datetime.fromisoformat(s["first"]) if s.get("first") else None,
                     "last": datetime.fromisoformat(s["last"]) if s.get("last") else None})
    return rows


def _chart_title(metric: str, unit: str) -> str:
    name = metric.replace("_", " ")
    return _("%(metric)s (%(unit)s) over time") % {"metric": name, "unit": unit} if unit else (
        _("%(metric)s over time") % {"metric": name})


def _seconds(seconds: float) -> str:
    """A gap's length: "40 s" below a minute, else in hours and minutes."""
    if seconds < 60:
        return _("%(seconds)d s") % {"seconds": round(seconds)}
    return duration(round(seconds / 60))


def _gap_rows(gaps: list[dict]) -> list[dict]:
    reasons = dict(SourceGap.Reason.choices)
    return [{**gap, "why": reasons.get(gap["reason"], gap["reason"]),
             "length": _seconds(gap["seconds"])} for gap in gaps]


LIVE_REFRESH_SECONDS = 5
LIVE_CHARTS = 6  # metrics drawn in the live panel (every one is in its table)


def _live_context(view: LiveView) -> dict:
    tz = ZoneInfo(view.trial.booking.equipment.hub.timezone)
    units = {value.metric: value.unit for value in view.latest}
    charts = []
    for metric, points in sorted(view.series.items())[:LIVE_CHARTS]:
        unit = units.get(metric, "")
        charts.append({"metric": metric, "points": len(points),
                       "svg": render_chart(metric, unit, points, tz,
                                           title=_chart_title(metric_label(metric), unit))})
    return {"live": view, "live_charts": charts, "live_gaps": _gap_rows(view.gaps),
            "refresh": LIVE_REFRESH_SECONDS}


@sme_required
def trial_detail(request, pk: int):
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    hub = trial.booking.equipment.hub
    collected = trial.status == Trial.Status.COLLECTED and trial.measurement_count > 0
    live = {}
    if trial.booking.status == Booking.Status.CHECKED_IN:
        live = _live_context(live_view(request.organization, trial.pk))
    return render(request, "trials/trial_detail.html", {
        **live, "usage": usage(trial.booking), "gaps": _gap_rows(trial_gaps(trial)),
        "trial": trial, "booking": trial.booking, "equipment": trial.booking.equipment,
        "hub": hub, "collected": collected,
        "summary": _summary_rows(trial) if collected else [],
        "charts": trial_charts(trial, ZoneInfo(hub.timezone), title_for=_chart_title)
        if collected else [],
        "panels": panels(trial), "consent_form": ConsentForm(),
        "standing_form": StandingConsentForm(), **rights(request, trial),
        "delivered": trial.releases.filter(status=DatasetRelease.Status.DELIVERED)
        .select_related("recipient"),
    })


@sme_required
def live_panel(request, pk: int):
    """The live panel alone, for htmx to swap in every few seconds; it stops asking once
    the booking is no longer checked in (the panel then comes without its trigger)."""
    with not_found_as_404():
        view = live_view(request.organization, pk)
    trial = view.trial
    return render(request, "trials/_live.html", {
        **_live_context(view), "trial": trial, "hub": trial.booking.equipment.hub})


@sme_required
def measurements_csv(request, pk: int):
    """Every reading of the trial, streamed: timestamp (hub time, with offset), metric,
    value, unit."""
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    return core_csv.response(["timestamp", "metric", "value", "unit"],
                             download_rows(trial), f"trial-{trial.pk}.csv")


@sme_required
def release_package(request, pk: int, release_id: int):
    """The data package exactly as delivered to a university (anonymised as agreed)."""
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    release = trial.releases.filter(pk=release_id, status=DatasetRelease.Status.DELIVERED).first()
    if release is None:
        raise Http404("No such release.")
    return file_response(release.package, filename=f"testbed-release-{release.pk}.zip",
                         content_type="application/zip", missing="No such release.")
