"""Reads of trials, scoped to the acting organisation; and the reads of an equipment's
result source: its raw observations while a trial runs (the live view) and "test
connection"."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.models import Booking
from core import outbound
from core.errors import valid_id
from equipment.models import Equipment
from organizations.models import Organization

from . import ingest
from .collector.base import Found
from .errors import SOURCE_NOT_TESTABLE, SOURCE_TEST_UNAVAILABLE, TRIAL_NOT_FOUND
from .models import Measurement, Observation, SourceGap, Trial
from .observed import window
from .parsing import ResultFormatError, parse
from .sources import SourceError, probe_for, source_for

logger = logging.getLogger(__name__)

# A trial 'collecting' for longer than this lost its worker; the sweep picks it up again.
STALE_COLLECTING = timedelta(minutes=15)


def trials_visible_to(organization: Organization | None) -> QuerySet[Trial]:
    """The booking's SME and the hub's operator see a trial; nobody else."""
    qs = Trial.objects.select_related("booking", "booking__equipment",
                                      "booking__equipment__hub", "booking__organization")
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(booking__organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(booking__operator=organization)
    return qs.none()


def trial_for(organization: Organization | None, trial_id) -> Trial:
    pk = valid_id(trial_id)
    trial = trials_visible_to(organization).filter(pk=pk).first() if pk else None
    if trial is None:
        raise TRIAL_NOT_FOUND.error()
    return trial


def measurements_of(trial: Trial) -> QuerySet[Measurement]:
    """The trial's readings in (ts, id) order: time, and at one instant the order they
    were loaded in. Each row's metric and unit are its ``metric`` (``TrialMetric``)."""
    return Measurement.objects.filter(trial=trial).order_by("ts", "id")


def reading_rows(trial: Trial, queryset: QuerySet[Measurement] | None = None, *,
                 chunk: int = 5000) -> Iterator[tuple[datetime, str, float, str]]:
    """The trial's readings as (ts, metric, value, unit), streamed in (ts, id) order with
    bounded memory: a server-side cursor on PostgreSQL, ``chunk`` rows at a time; names and
    units from the trial's dictionary, not a join per row. ``queryset``: some of the
    trial's readings (``measurements_of`` filtered), else all of them."""
    names = ingest.dictionary(trial)
    qs = measurements_of(trial) if queryset is None else queryset.order_by("ts", "id")
    for ts, metric_id, value in qs.values_list("ts", "metric_id", "value").iterator(
            chunk_size=chunk):
        name, unit = names[metric_id]
        yield ts, name, value, unit


def download_rows(trial: Trial, queryset: QuerySet[Measurement] | None = None
                  ) -> Iterator[tuple[str, str, float, str]]:
    """``reading_rows`` as the CSV downloads give them: the time as ISO 8601 in the hub's
    offset (converted once per instant: every channel shares it)."""
    tz = ZoneInfo(trial.booking.equipment.hub.timezone)
    last, text = None, ""
    for ts, metric, value, unit in reading_rows(trial, queryset):
        if ts != last:
            last, text = ts, ts.astimezone(tz).isoformat()
        yield text, metric, value, unit


def trials_due_for_collection(*, now=None) -> QuerySet[Trial]:
    now = now or timezone.now()
    return Trial.objects.filter(
        Q(status=Trial.Status.PENDING)
        | Q(status=Trial.Status.COLLECTING, updated__lt=now - STALE_COLLECTING),
        booking__status=Booking.Status.COMPLETED,
    ).order_by("booking__completed_at")


# --- the live view: a trial's raw observations while it runs ---------------------------

LIVE_MINUTES = 5  # the series' default span
LIVE_MAX_MINUTES = 60
LIVE_POINTS = 300  # at most, per metric


@dataclass(frozen=True)
class Latest:
    metric: str
    unit: str
    value: float
    ts: datetime


@dataclass(frozen=True)
class LiveView:
    trial: Trial
    live: bool  # the booking is checked in: readings are arriving
    since: datetime  # the series start here …
    until: datetime  # … and end here (now, or the booking's end)
    latest: list[Latest]
    series: dict[str, list[tuple[datetime, float]]]
    gaps: list[dict] = field(default_factory=list)


def live_view(organization: Organization | None, trial_id, *, minutes: int = LIVE_MINUTES,
              now: datetime | None = None) -> LiveView:
    """What the collector has stored of a trial so far, for its SME and its hub's operator:
    the latest value of each metric in the booking, each metric's readings over the last
    ``minutes`` (thinned to ``LIVE_POINTS``) and the gaps recorded. Only readings within
    the booking's window (the trial's: the slot, ended early if the operator completed
    it early): the collector starts a little before and stops a little after, and those
    readings belong to no trial (or to another SME's). Two queries for the readings,
    whatever their number of metrics."""
    trial = trial_for(organization, trial_id)
    booking = trial.booking
    start, end = window(booking)
    until = min(now or timezone.now(), end)
    since = max(start, until - timedelta(minutes=minutes))
    readings = Observation.objects.filter(equipment_id=booking.equipment_id, ts__lt=end)
    started = until > start
    return LiveView(
        trial=trial, live=booking.status == Booking.Status.CHECKED_IN, since=since,
        until=until,
        latest=latest_values(readings.filter(ts__gte=start)) if started else [],
        series=thinned_series(readings.filter(ts__gte=since), LIVE_POINTS) if started else {},
        gaps=trial_gaps(trial, until=until))


def latest_values(readings: QuerySet[Observation]) -> list[Latest]:
    """The last reading of each metric, by metric name, in one query: DISTINCT ON where the
    database has it (PostgreSQL), a row number per metric otherwise."""
    if connection.features.can_distinct_on_fields:
        rows = readings.order_by("metric", "-ts", "-seq").distinct("metric")
    else:
        rows = (readings.annotate(rank=Window(RowNumber(), partition_by=[F("metric")],
                                              order_by=[F("ts").desc(), F("seq").desc()]))
                .filter(rank=1).order_by("metric"))
    return [Latest(*row) for row in rows.values_list("metric", "unit", "value", "ts")]


def thinned_series(readings: QuerySet[Observation], max_points: int
                   ) -> dict[str, list[tuple[datetime, float]]]:
    """Each metric's readings in time order, every n-th one where it has more than
    ``max_points`` (n per metric, from its own count), in one query."""
    stride = (F("total") + Value(max_points - 1)) / Value(max_points)
    rows = (readings
            .annotate(position=Window(RowNumber(), partition_by=[F("metric")],
                                      order_by=[F("ts").asc(), F("seq").asc()]),
                      total=Window(Count("pk"), partition_by=[F("metric")]))
            .annotate(offset=Mod(F("position") - 1, stride))
            .filter(offset=0)
            .order_by("metric", "ts", "seq")
            .values_list("metric", "ts", "value"))
    series: dict[str, list[tuple[datetime, float]]] = {}
    for metric, ts, value in rows:
        series.setdefault(metric, []).append((ts, value))
    return series


def _moment(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def trial_gaps(trial: Trial, *, until: datetime | None = None) -> list[dict]:
    """The periods of the trial without readings, as ``Trial.gaps`` lists them (start,
    end, seconds, reason, detail): the trial's own record once collected, else the gaps
    the collector has recorded so far in the slot (clipped to it)."""
    if trial.status == Trial.Status.COLLECTED or trial.gaps:
        return [{**gap, "start": _moment(gap["start"]), "end": _moment(gap["end"])}
                for gap in trial.gaps]
    start, end = window(trial.booking)
    end = min(until or end, end)
    rows = (SourceGap.objects.filter(equipment_id=trial.booking.equipment_id, start__lt=end,
                                     end__gt=start).order_by("start", "pk"))
    out = []
    for gap in rows:
        first, last = max(gap.start, start), min(gap.end, end)
        out.append({"start": first, "end": last,
                    "seconds": round((last - first).total_seconds(), 3), "reason": gap.reason,
                    "detail": gap.detail})
    return out


# --- "test connection" -----------------------------------------------------------------

# What "test connection" asks a pulled source (HTTP gateway, demo) for: the last minutes.
TEST_WINDOW = timedelta(minutes=5)
TEST_FAILED = gettext_lazy("The test failed for a reason Testbed did not expect; the details "
                           "are in the server's log.")


@dataclass(frozen=True)
class SourceCheck:
    """What "test connection" found: the metrics with a sample value, or why not (in our
    own words: the source's answer goes to the log, never to the user)."""

    kind: str
    ok: bool
    metrics: list[Found] = field(default_factory=list)
    error: str = ""
    # A secured OPC UA server's certificate, SHA-256 (AB:CD:…): what the source may pin.
    server_certificate: str = ""


Sampler = Callable[[Equipment, datetime], list[Found]]


def check_result_source(equipment: Equipment, *, now: datetime | None = None) -> SourceCheck:
    """Connect to ``equipment``'s result source as stored, read a sample and say which
    metrics it gives. A read: nothing is stored, nothing changes. Every connection goes
    through the outbound guard (the sources' own clients) and is bounded by
    ``RESULT_SOURCE_TEST_TIMEOUT`` (a pulled source: ``TRIAL_SOURCE_TIMEOUT``). Raises
    ``result_source_not_testable`` (409) for equipment
    without a source to connect to. The caller has checked who may test."""
    kind = equipment.result_source_kind
    sample = _sampler(kind)
    try:
        found = sample(equipment, now or timezone.now())
    except SourceError as exc:
        logger.info("Test of the %s source of equipment %s: %s", kind, equipment.pk, exc)
        return SourceCheck(kind, ok=False, error=str(exc))
    except outbound.OutboundRefused as exc:
        return SourceCheck(kind, ok=False, error=exc.message)
    except Exception:  # a client library's own failure (asyncua, paho): say so, log it
        logger.exception("Test of the %s source of equipment %s failed", kind, equipment.pk)
        return SourceCheck(kind, ok=False, error=str(TEST_FAILED))
    return SourceCheck(kind, ok=True, metrics=list(found),
                       server_certificate=getattr(found, "server_certificate", ""))


def _sampler(kind: str) -> Sampler:
    fetch = source_for(kind)
    if fetch is not None:
        return _pulled(fetch)
    try:
        probe = probe_for(kind)
    except ImportError:  # the kind's module is not installed
        raise SOURCE_TEST_UNAVAILABLE.error(kind=kind) from None
    if probe is None:
        raise SOURCE_NOT_TESTABLE.error()
    return lambda equipment, now: probe(equipment, timeout=settings.RESULT_SOURCE_TEST_TIMEOUT)


def _pulled(fetch) -> Sampler:
    """A pulled source asked for its last ``TEST_WINDOW``: the last value of each metric."""
    def sample(equipment: Equipment, now: datetime) -> list[Found]:
        payload = fetch(equipment, now - TEST_WINDOW, now)
        try:
            rows = list(parse(payload.data, payload.content_type))
        except ResultFormatError as exc:
            logger.info("Test of equipment %s: unreadable answer: %s", equipment.pk, exc)
            raise SourceError(_("The source answered, but not with readings Testbed can read "
                                "(CSV or JSON: timestamp, metric, value, unit).")) from exc
        last: dict[str, tuple] = {}
        for row in rows:
            if row.metric not in last or row.ts >= last[row.metric][0]:
                last[row.metric] = (row.ts, row.unit, row.value)
        return [Found(metric, unit, value) for metric, (_ts, unit, value) in sorted(last.items())]
    return sample
