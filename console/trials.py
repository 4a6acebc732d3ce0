"""A trial of a booking at the operator's hubs, for the operator: its collection status,
the usage evidence, the gaps, the summary table and charts once collected, and — while the
booking is checked in — the live panel the SME sees, refreshed with htmx; its readings as
CSV. Reads only, through ``trials.selectors`` (the same ones the API's operators read by):
a trial of another operator's hub is the 404 page."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.shortcuts import render
from django.urls import reverse

from bookings.models import Booking
from bookings.reports.selectors import usage
from core import csv as core_csv
from organizations.portal import not_found_as_404
from trials.charts import trial_charts
from trials.models import DatasetRelease, Trial
from trials.selectors import download_rows, live_view, trial_for, trial_gaps

# The SME's trial page builds the same rows and charts; one way of presenting them.
from trials.views.results import _chart_title, _gap_rows, _live_context, _summary_rows

from .access import operator_required


def _operator_trial(request, pk: int) -> Trial:
    with not_found_as_404():
        return trial_for(request.organization, pk)


@operator_required
def trial(request, pk: int):
    trial = _operator_trial(request, pk)
    booking = trial.booking
    hub = booking.equipment.hub
    collected = trial.status == Trial.Status.COLLECTED and trial.measurement_count > 0
    live = {}
    if booking.status == Booking.Status.CHECKED_IN:
        live = _live_context(live_view(request.organization, trial.pk))
    return render(
        request,
        "console/trial.html",
        {
            **live,
            "live_url": reverse("console:trial_live", args=[trial.pk]),
            "trial": trial,
            "booking": booking,
            "equipment": booking.equipment,
            "hub": hub,
            "usage": usage(booking),
            "gaps": _gap_rows(trial_gaps(trial)),
            "collected": collected,
            "summary": _summary_rows(trial) if collected else [],
            "charts": trial_charts(trial, ZoneInfo(hub.timezone), title_for=_chart_title)
            if collected
            else [],
            "delivered": trial.releases.filter(status=DatasetRelease.Status.DELIVERED)
            .select_related("recipient")
            .order_by("delivered_at", "pk"),
        },
    )


@operator_required
def trial_live(request, pk: int):
    """The live panel alone, for htmx to swap in every few seconds (it stops asking once
    the booking is no longer checked in)."""
    with not_found_as_404():
        view = live_view(request.organization, pk)
    return render(
        request,
        "trials/_live.html",
        {
            **_live_context(view),
            "live_url": reverse("console:trial_live", args=[view.trial.pk]),
            "trial": view.trial,
            "hub": view.trial.booking.equipment.hub,
        },
    )


@operator_required
def trial_csv(request, pk: int):
    """Every reading of the trial, streamed: timestamp (hub time, with offset), metric,
    value, unit — the same file the SME downloads."""
    trial = _operator_trial(request, pk)
    return core_csv.response(["timestamp", "metric", "value", "unit"],
                             download_rows(trial), f"trial-{trial.pk}.csv")
