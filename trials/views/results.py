"""Trial results in the portal: the SME's trials, one trial's summary and charts, its
measurements as CSV, and the data packages delivered to universities under its consent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core import csv as core_csv
from organizations.portal import not_found_as_404, sme_required

from ..charts import trial_charts
from ..forms import ConsentForm, StandingConsentForm
from ..models import DatasetRelease, Trial
from ..selectors import measurements_of, trial_for, trials_visible_to
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


@sme_required
def trial_detail(request, pk: int):
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    hub = trial.booking.equipment.hub
    collected = trial.status == Trial.Status.COLLECTED and trial.measurement_count > 0
    return render(request, "trials/trial_detail.html", {
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
def measurements_csv(request, pk: int):
    """Every reading of the trial, streamed: timestamp (hub time, with offset), metric,
    value, unit."""
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    tz = ZoneInfo(trial.booking.equipment.hub.timezone)
    readings = measurements_of(trial).values_list("ts", "metric", "value", "unit")
    rows = ((ts.astimezone(tz).isoformat(), metric, value, unit)
            for ts, metric, value, unit in readings.iterator(chunk_size=5000))
    response = StreamingHttpResponse(
        core_csv.stream(["timestamp", "metric", "value", "unit"], rows),
        content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="trial-{trial.pk}.csv"'
    return response


@sme_required
def release_package(request, pk: int, release_id: int):
    """The data package exactly as delivered to a university (anonymised as agreed)."""
    with not_found_as_404():
        trial = trial_for(request.organization, pk)
    release = trial.releases.filter(pk=release_id, status=DatasetRelease.Status.DELIVERED).first()
    if release is None or not release.package:
        raise Http404("No such release.")
    return FileResponse(release.package.open("rb"), as_attachment=True,
                        filename=f"testbed-release-{release.pk}.zip",
                        content_type="application/zip")
