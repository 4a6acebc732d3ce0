"""Bulk loading of measurements and their summary, computed by the database.

PostgreSQL: rows stream into ``COPY … FROM STDIN`` through psycopg 3 while they are
parsed, so parsing (here) and loading (in the server) overlap. Other databases:
``bulk_create`` in batches. Callers hold the transaction and the trial's row lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Avg, Count, Max, Min

from core import db

from .models import Measurement, Observation, Trial
from .parsing import Row

BATCH = 5000
COPY_FIELDS = ("trial", "ts", "metric", "value", "unit")  # the order of each COPY line


def _copy_sql() -> str:
    columns = ", ".join(db.column(Measurement, name) for name in COPY_FIELDS)
    return f"COPY {db.table(Measurement)} ({columns}) FROM STDIN"
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


def store_measurements(trial: Trial, rows: Iterable[Row] | ObservationWindow) -> int:
    """Replace the trial's measurements with ``rows``; returns how many were stored."""
    Measurement.objects.filter(trial=trial).delete()
    if isinstance(rows, ObservationWindow):
        return _copy_observations(trial.pk, rows)
    if connection.vendor == "postgresql":
        return _copy(trial.pk, rows)
    return _bulk_create(trial, rows)


def _copy(trial_id: int, rows: Iterable[Row]) -> int:
    count = 0
    prefix = f"{trial_id}\t"
    buffer: list[str] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        with raw.copy(_copy_sql()) as copy:
            for row in rows:
                buffer.append(f"{prefix}{row.ts_text}\t{copy_text(row.metric)}\t"
                              f"{row.value!r}\t{copy_text(row.unit)}\n")
                if len(buffer) >= BATCH:
                    copy.write("".join(buffer))
                    count += len(buffer)
                    buffer.clear()
            if buffer:
                copy.write("".join(buffer))
                count += len(buffer)
    return count


def _copy_observations(trial_id: int, window: ObservationWindow) -> int:
    """One INSERT … SELECT. (Streaming the observations into COPY instead would read a
    server-side cursor on the connection the COPY holds: psycopg 3 waits forever.)"""
    fields = ("ts", "metric", "value", "unit")
    target = ", ".join(db.column(Measurement, name) for name in ("trial", *fields))
    source = ", ".join(db.column(Observation, name) for name in fields)
    sql = (f"INSERT INTO {db.table(Measurement)} ({target}) SELECT %s, {source} "  # noqa: S608 - model metadata only
           f"FROM {db.table(Observation)} WHERE {db.column(Observation, 'equipment')} = %s "
           f"AND {db.column(Observation, 'ts')} >= %s AND {db.column(Observation, 'ts')} < %s")
    adapt = connection.ops.adapt_datetimefield_value  # SQLite compares texts
    with connection.cursor() as cursor:
        cursor.execute(sql, [trial_id, window.equipment_id, adapt(window.start),
                             adapt(window.end)])
        return cursor.rowcount


def _bulk_create(trial: Trial, rows: Iterable[Row]) -> int:
    count = 0
    batch: list[Measurement] = []
    for row in rows:
        batch.append(Measurement(trial=trial, ts=row.ts, metric=row.metric, value=row.value,
                                 unit=row.unit))
        if len(batch) >= BATCH:
            Measurement.objects.bulk_create(batch)
            count += len(batch)
            batch.clear()
    if batch:
        Measurement.objects.bulk_create(batch)
        count += len(batch)
    return count


def summarize(trial: Trial) -> dict:
    """Per metric: count, min, max, mean, unit, first and last timestamp (one GROUP BY)."""
    rows = (Measurement.objects.filter(trial=trial).order_by().values("metric", "unit")
            .annotate(count=Count("pk"), min=Min("value"), max=Max("value"), mean=Avg("value"),
                      first=Min("ts"), last=Max("ts")))
    return {
        r["metric"]: {"unit": r["unit"], "count": r["count"], "min": r["min"], "max": r["max"],
                      "mean": r["mean"], "first": r["first"].isoformat(),
                      "last": r["last"].isoformat()}
        for r in rows.order_by("metric")
    }
