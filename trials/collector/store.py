"""Writing what the collector received: readings, gaps and driver state, one transaction
per batch.

PostgreSQL: the batch is COPYed into a temporary table, then inserted with ``ON CONFLICT
DO NOTHING`` on (equipment, metric, ts, seq) — COPY's speed, and a reading delivered
twice (an MQTT redelivery after a crash, a sample fetched again) is stored once. Other
databases: ``bulk_create(ignore_conflicts=True)``. The driver's state (e.g. the MTConnect
cursor) is saved in the same transaction as the readings it covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import db

from ..ingest import copy_text
from ..models import Observation, SourceGap, SourceState
from .base import Gap, Reading

FIELDS = ("equipment", "ts", "metric", "value", "unit", "seq")
STAGE = "collector_stage"


def _stage_sql() -> tuple[str, str, str]:
    columns = ", ".join(db.column(Observation, f) for f in FIELDS)
    key = ", ".join(db.column(Observation, f) for f in ("equipment", "metric", "ts", "seq"))
    create = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "  # noqa: S608 - model metadata and constants only
              f"SELECT {columns} FROM {db.table(Observation)} WITH NO DATA")
    copy = f"COPY {STAGE} ({columns}) FROM STDIN"
    # DISTINCT ON: one batch may hold the same reading twice (a redelivery).
    merge = (f"INSERT INTO {db.table(Observation)} ({columns}) "  # noqa: S608 - model metadata and constants only
             f"SELECT DISTINCT ON ({key}) {columns} FROM {STAGE} "
             f"ON CONFLICT ({key}) DO NOTHING")
    return create, copy, merge


def _line(equipment_id: int, r: Reading) -> str:
    return (f"{equipment_id}\t{r.ts.isoformat()}\t{copy_text(r.metric)}\t{float(r.value)!r}\t"
            f"{copy_text(r.unit)}\t{int(r.seq)}\n")


def _copy(batches: Iterable[tuple[int, Sequence[Reading]]]) -> int:
    create, copy_sql, merge = _stage_sql()
    with connection.cursor() as cursor:
        cursor.execute(create)
        raw = cursor.cursor
        with raw.copy(copy_sql) as copy:
            for equipment_id, readings in batches:
                copy.write("".join(_line(equipment_id, r) for r in readings))
        cursor.execute(merge)
        return cursor.rowcount


def _bulk(batches: Iterable[tuple[int, Sequence[Reading]]]) -> int:
    rows = [Observation(equipment_id=equipment_id, ts=r.ts, metric=r.metric,
                        value=float(r.value), unit=r.unit, seq=int(r.seq))
            for equipment_id, readings in batches for r in readings]
    before = Observation.objects.count() if rows else 0
    Observation.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return Observation.objects.count() - before if rows else 0


def write_batch(*, readings: list[tuple[int, Sequence[Reading]]],
                gaps: list[tuple[int, Gap]], states: dict[int, dict],
                stored_until: dict[int, datetime]) -> int:
    """Store one batch atomically; returns how many readings were new."""
    with transaction.atomic():
        stored = 0
        if any(r for _eq, r in readings):
            stored = (_copy if connection.vendor == "postgresql" else _bulk)(readings)
        SourceGap.objects.bulk_create([
            SourceGap(equipment_id=equipment_id, start=g.start, end=max(g.end, g.start),
                      reason=g.reason, detail=g.detail[:300]) for equipment_id, g in gaps])
        last_reading: dict[int, datetime] = {}
        for equipment_id, batch in readings:
            if batch:
                newest = max(r.ts for r in batch)
                last_reading[equipment_id] = max(newest, last_reading.get(equipment_id, newest))
        for equipment_id in set(states) | set(stored_until) | set(last_reading):
            fields = {}
            if equipment_id in states:
                fields["state"] = states[equipment_id]
            if equipment_id in stored_until:
                fields["stored_until"] = stored_until[equipment_id]
            if equipment_id in last_reading:
                fields["last_reading"] = last_reading[equipment_id]
            _update_state(equipment_id, fields)
    return stored


def _update_state(equipment_id: int, fields: dict) -> None:
    if "last_reading" in fields:  # never moves back (a late, older reading)
        current = (SourceState.objects.filter(pk=equipment_id)
                   .values_list("last_reading", flat=True).first())
        if current and current > fields["last_reading"]:
            fields.pop("last_reading")
    fields["updated"] = timezone.now()
    updated = SourceState.objects.filter(pk=equipment_id).update(**fields)
    if not updated:
        SourceState.objects.create(equipment_id=equipment_id, **fields)


def load_state(equipment_id: int) -> SourceState | None:
    return SourceState.objects.filter(pk=equipment_id).first()


def purge_observations(*, now: datetime | None = None) -> int:
    """Delete raw observations (and source gaps) older than ``OBSERVATION_RETENTION_DAYS``:
    a trial's measurements are its own copy and stay. In chunks, so a large purge holds no
    long lock."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OBSERVATION_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(Observation.objects.filter(ts__lt=cutoff).values_list("pk", flat=True)[:50_000])
        if not ids:
            break
        total += Observation.objects.filter(pk__in=ids).delete()[0]
    SourceGap.objects.filter(end__lt=cutoff).delete()
    return total
