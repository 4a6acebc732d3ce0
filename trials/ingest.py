"""Bulk loading of measurements and their summary, computed by the database.

Layout (docs/architecture.md, "Measurements layout"): a trial's metrics and units are a
dictionary (``TrialMetric``, one row per metric and unit); each reading is one narrow row
(trial, metric id, time, value) with no text.

A results body goes through ``store_results``. On PostgreSQL a CSV body takes the fast
path first (``trials.fast_ingest``: Apache Arrow reads, checks and writes COPY's CSV input
in C++, a block at a time, in a savepoint); whatever it does not take for sure rolls back
and goes to the Python parser, whose errors name the line at fault.

PostgreSQL, parsed rows: they stream into ``COPY … FROM STDIN`` through psycopg 3 while they
are parsed, so parsing (here) and loading (in the server) overlap. A metric not seen before
ends the COPY, gets its dictionary row, and a new COPY goes on (a handful of times per
trial: the channels show up in the first rows). Other databases: ``bulk_create`` in
batches. Callers hold the transaction and the trial's row lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import chain, islice
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Sum
from django.utils.translation import gettext as _
from psycopg.copy import QueuedLibpqWriter

from core import db

from . import fast_ingest
from .models import Measurement, Observation, Trial, TrialMetric
from .parsing import ResultFormatError, Row, is_json, parse

BATCH = 5000
COPY_FIELDS = ("trial", "metric", "ts", "value")  # the order of each COPY line
MAX_METRICS = 1000  # different (metric, unit) pairs in one trial


def _copy_sql(options: str = "") -> str:
    columns = ", ".join(db.column(Measurement, name) for name in COPY_FIELDS)
    return f"COPY {db.table(Measurement)} ({columns}) FROM STDIN {options}".rstrip()


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """Escape a text field for COPY's text format (rarely needed: a fast check first)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


class ObservationWindow(NamedTuple):
    """The collector's observations of one equipment in [start, end): copied as rows
    inside the database, never through Python."""
    equipment_id: int
    start: datetime
    end: datetime


def store_results(trial: Trial, data: bytes, content_type: str = "") -> int:
    """Replace the trial's measurements with those of a results body (CSV or JSON, as
    ``parsing.parse`` reads it); returns how many were stored; raises ResultFormatError."""
    start = fast_ingest.rows_start(data) if connection.vendor == "postgresql" else None
    if start is not None and not is_json(content_type, "t"):  # it starts with the CSV header
        try:
            with transaction.atomic():  # a savepoint: nothing of a fast path given up stays
                return _copy_arrow(trial, data, start)
        except fast_ingest.Unfit:
            pass  # the Python parser stores it, or names the line at fault
    return store_measurements(trial, parse(data, content_type))


def store_measurements(trial: Trial, rows: Iterable[Row] | ObservationWindow) -> int:
    """Replace the trial's measurements with ``rows``; returns how many were stored."""
    Measurement.objects.filter(trial=trial).delete()
    TrialMetric.objects.filter(trial=trial).delete()
    if isinstance(rows, ObservationWindow):
        return _copy_observations(trial.pk, rows)
    if connection.vendor == "postgresql":
        return _copy(trial.pk, rows)
    return _bulk_create(trial, rows)


class _Dictionary:
    """The trial's metrics as they show up in the rows: (name, unit) → TrialMetric id."""

    def __init__(self, trial_id: int):
        self.trial_id = trial_id
        self.ids: dict[tuple[str, str], int] = {}

    def add(self, name: str, unit: str) -> int:
        if len(self.ids) >= MAX_METRICS:
            raise ResultFormatError(
                _("The results hold more than %(max)d different metrics (name and unit).")
                % {"max": MAX_METRICS})
        metric = db.insert(TrialMetric(trial_id=self.trial_id, name=name, unit=unit))
        self.ids[(name, unit)] = metric.pk
        return metric.pk


def _copy(trial_id: int, rows: Iterable[Row]) -> int:
    metrics = _Dictionary(trial_id)
    ids = metrics.ids
    prefix = f"{trial_id}\t"
    count = 0
    rows = iter(rows)
    batches = iter(lambda: list(islice(rows, BATCH)), [])
    pending: list[Row] | None = None  # a batch with metrics not in the dictionary yet
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        while True:
            first, pending = ([pending] if pending else []), None
            with raw.copy(_copy_sql()) as copy:
                for batch in chain(first, batches):
                    try:
                        lines = [f"{prefix}{ids[r.metric, r.unit]}\t{r.ts_text}\t{r.value!r}\n"
                                 for r in batch]
                    except KeyError:
                        pending = batch
                        break
                    copy.write("".join(lines))
                    count += len(lines)
                else:
                    return count
            # Between two COPYs the connection is free for the dictionary's INSERTs.
            for r in pending:
                if (r.metric, r.unit) not in ids:
                    metrics.add(r.metric, r.unit)


def _copy_arrow(trial: Trial, data: bytes, start: int) -> int:
    """The fast path: each checked block's new metrics into the dictionary, then its rows
    into a binary COPY (one COPY while no new metric shows up)."""
    Measurement.objects.filter(trial=trial).delete()
    TrialMetric.objects.filter(trial=trial).delete()
    metrics = _Dictionary(trial.pk)
    count = 0
    blocks = fast_ingest.blocks(data, start)
    block = next(blocks, None)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        while block is not None:
            for pair in block.pairs:
                if pair not in metrics.ids:
                    try:
                        metrics.add(*pair)
                    except ResultFormatError as exc:  # too many: the Python path says so
                        raise fast_ingest.Unfit(str(exc)) from exc
            # A thread of psycopg's hands the data to the server while Arrow (GIL released)
            # reads the next block: reading and loading overlap (its queue is bounded).
            with raw.copy(_copy_sql("WITH (FORMAT binary)"),
                          writer=QueuedLibpqWriter(raw)) as copy:
                copy.write(fast_ingest.SIGNATURE)
                while block is not None:
                    ids = [metrics.ids.get(pair) for pair in block.pairs]
                    if None in ids:
                        break  # new metrics: their INSERTs wait for the COPY to end
                    copy.write(fast_ingest.copy_input(trial.pk, ids, block))
                    count += len(block.value)
                    block = next(blocks, None)
                copy.write(fast_ingest.TRAILER)
    return count


def _copy_observations(trial_id: int, window: ObservationWindow) -> int:
    """Two statements inside the database: the window's metrics into the dictionary, then
    its readings, in time order. (Streaming the observations into COPY instead would read
    a server-side cursor on the connection the COPY holds: psycopg 3 waits forever.)"""
    o = {name: db.column(Observation, name, "o") for name in
         ("equipment", "ts", "metric", "value", "unit", "id")}
    m = {name: db.column(TrialMetric, name, "m") for name in ("id", "trial", "name", "unit")}
    where = (f"{o['equipment']} = %s AND {o['ts']} >= %s AND {o['ts']} < %s")
    metric_columns = ", ".join(db.column(TrialMetric, n) for n in ("trial", "name", "unit"))
    reading_columns = ", ".join(db.column(Measurement, n) for n in COPY_FIELDS)
    adapt = connection.ops.adapt_datetimefield_value  # SQLite compares texts
    window_params = [window.equipment_id, adapt(window.start), adapt(window.end)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {db.table(TrialMetric)} ({metric_columns}) "  # noqa: S608 - model metadata only
            f"SELECT DISTINCT %s, {o['metric']}, {o['unit']} FROM {db.table(Observation)} o "
            f"WHERE {where}", [trial_id, *window_params])
        cursor.execute(
            f"INSERT INTO {db.table(Measurement)} ({reading_columns}) "  # noqa: S608 - model metadata only
            f"SELECT %s, {m['id']}, {o['ts']}, {o['value']} FROM {db.table(Observation)} o "
            f"JOIN {db.table(TrialMetric)} m ON {m['trial']} = %s "
            f"AND {m['name']} = {o['metric']} AND {m['unit']} = {o['unit']} "
            f"WHERE {where} ORDER BY {o['ts']}, {o['id']}",
            [trial_id, trial_id, *window_params])
        return cursor.rowcount


def _bulk_create(trial: Trial, rows: Iterable[Row]) -> int:
    metrics = _Dictionary(trial.pk)
    count = 0
    batch: list[Measurement] = []
    for row in rows:
        number = metrics.ids.get((row.metric, row.unit)) or metrics.add(row.metric, row.unit)
        batch.append(Measurement(trial_id=trial.pk, metric_id=number, ts=row.ts,
                                 value=row.value))
        if len(batch) >= BATCH:
            Measurement.objects.bulk_create(batch)
            count += len(batch)
            batch.clear()
    if batch:
        Measurement.objects.bulk_create(batch)
        count += len(batch)
    return count


def dictionary(trial: Trial) -> dict[int, tuple[str, str]]:
    """The trial's metrics: TrialMetric id → (name, unit)."""
    return {pk: (name, unit) for pk, name, unit
            in TrialMetric.objects.filter(trial=trial).values_list("id", "name", "unit")}


def summarize(trial: Trial) -> dict:
    """Per metric: count, min, max, mean, unit, first and last timestamp (one GROUP BY
    over the readings, named from the dictionary)."""
    names = dictionary(trial)
    rows = (Measurement.objects.filter(trial=trial).order_by().values("metric_id")
            .annotate(count=Count("id"), min=Min("value"), max=Max("value"), sum=Sum("value"),
                      first=Min("ts"), last=Max("ts")))
    out = {}
    for r in sorted(rows, key=lambda r: names[r["metric_id"]]):
        name, unit = names[r["metric_id"]]
        out[name] = {"unit": unit, "count": r["count"], "min": r["min"], "max": r["max"],
                     "mean": r["sum"] / r["count"], "first": r["first"].isoformat(),
                     "last": r["last"].isoformat()}
    return out
