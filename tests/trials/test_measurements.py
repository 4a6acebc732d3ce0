"""The compact measurement layout (issue 17, part 3): a metric dictionary per trial, one
narrow row per reading; values and times come back exactly, in time order; the CSV export,
the data package and the summary equal the readings; cursor pages cover every reading once.
The same tests run on SQLite and, with DATABASE_URL, on PostgreSQL (COPY, BRIN)."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.fixtures.peers import complete
from tests.fixtures.world import key_client
from trials import ingest, packages, selectors, services
from trials.models import (
    DatasetRelease,
    Measurement,
    Observation,
    SharingAgreement,
    Trial,
    TrialMetric,
)

pytestmark = pytest.mark.django_db

EIGHT = timezone(timedelta(hours=8))
# Values a text round trip could bend: repr-exact floats, tiny, huge, negative, integral.
VALUES = [0.1, 1 / 3, -2.5e-300, 1.2345e13, 123456789.12345679, -7.25, 42.0,
          5e-324]


def _csv(rows) -> bytes:
    lines = ["timestamp,metric,value,unit"]
    lines += [f"{ts.isoformat()},{metric},{value!r},{unit}" for ts, metric, value, unit in rows]
    return ("\n".join(lines) + "\n").encode()


def _upload(trial_booking, operator, rows) -> Trial:
    services.upload_results(trial=Trial.objects.get(pk=trial_booking.pk), organization=operator,
                            data=_csv(rows), content_type="text/csv")
    return Trial.objects.get(pk=trial_booking.pk)


def _readings(start, *, seconds: int = 40):
    """Three channels (one metric in two units) every second, sub-second times, offsets."""
    rows = []
    for i in range(seconds):
        ts = (start + timedelta(seconds=i, microseconds=123457 * (i % 7))).astimezone(EIGHT)
        rows.append((ts, "spindle_load", VALUES[i % len(VALUES)], "%"))
        rows.append((ts, "temperature", 20 + i / 7, "°C"))
        rows.append((ts, "temperature", 68 + i / 3, "°F"))
    return rows


def test_metrics_are_a_dictionary_per_trial_and_readings_carry_no_text(checked_in, operator):
    trial = _upload(checked_in, operator, _readings(checked_in.start))
    metrics = set(TrialMetric.objects.filter(trial=trial).values_list("name", "unit"))
    assert metrics == {("spindle_load", "%"), ("temperature", "°C"), ("temperature", "°F")}
    assert {f.name for f in Measurement._meta.concrete_fields} == {
        "id", "trial", "metric", "ts", "value"}
    ids = set(TrialMetric.objects.filter(trial=trial).values_list("id", flat=True))
    assert set(Measurement.objects.filter(trial=trial).values_list("metric_id", flat=True)) == ids
    # A second upload replaces readings and dictionary alike.
    trial = _upload(checked_in, operator, [(checked_in.start, "cycle_time", 184.0, "s")])
    assert list(TrialMetric.objects.filter(trial=trial).values_list("name", "unit")) == [
        ("cycle_time", "s")]
    assert Measurement.objects.filter(trial=trial).count() == trial.measurement_count == 1


def test_values_and_times_round_trip_exactly_in_time_order(checked_in, operator):
    rows = _readings(checked_in.start)
    shuffled = rows[1::2] + rows[::2]  # out of time order on purpose
    trial = _upload(checked_in, operator, shuffled)
    back = list(selectors.reading_rows(trial))
    assert len(back) == len(rows)
    # In time order; readings at one instant in the order they were loaded.
    order = {id(r): n for n, r in enumerate(shuffled)}
    expected = sorted(shuffled, key=lambda r: (r[0], order[id(r)]))
    assert [(ts, m, v, u) for ts, m, v, u in back] == expected
    for (ts, _m, value, _u), (want_ts, _wm, want, _wu) in zip(back, expected, strict=True):
        assert ts == want_ts and ts.utcoffset() == timedelta(0)
        assert repr(value) == repr(want)  # the same double, bit for bit


def test_summary_equals_a_straightforward_computation(checked_in, operator):
    rows = [r for r in _readings(checked_in.start) if r[3] != "°F"]
    trial = _upload(checked_in, operator, rows)
    by_metric = defaultdict(list)
    for ts, metric, value, unit in rows:
        by_metric[metric].append((ts, value, unit))
    assert set(trial.summary) == set(by_metric)
    for metric, readings in by_metric.items():
        values = [v for _ts, v, _u in readings]
        got = trial.summary[metric]
        assert got["count"] == len(values) and got["unit"] == readings[0][2]
        assert got["min"] == min(values) and got["max"] == max(values)
        assert got["mean"] == pytest.approx(math.fsum(values) / len(values), rel=1e-12)
        assert datetime.fromisoformat(got["first"]) == min(ts for ts, _v, _u in readings)
        assert datetime.fromisoformat(got["last"]) == max(ts for ts, _v, _u in readings)


def test_csv_export_and_data_package_equal_the_readings(checked_in, operator, sme):
    rows = _readings(checked_in.start, seconds=25)
    trial = _upload(checked_in, operator, rows)
    r = key_client(sme).get(f"/api/v1/trials/{trial.pk}/measurements/?format=csv")
    assert r.status_code == 200 and r.streaming
    lines = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    assert lines[0] == ["timestamp", "metric", "value", "unit"]
    readings = list(selectors.reading_rows(trial))
    assert [(datetime.fromisoformat(t), m, float(v), u) for t, m, v, u in lines[1:]] == readings
    assert {datetime.fromisoformat(t).utcoffset() for t, *_ in lines[1:]} == {
        timedelta(hours=8)}  # the hub's offset (Asia/Shanghai)

    release = DatasetRelease(pk=1, trial=trial, agreement=SharingAgreement(pk=1), terms={
        "anonymize": True, "shift_timestamps": False, "license": "CC-BY-4.0"})
    built = packages.build(release)
    with zipfile.ZipFile(built.file) as zf:
        table = list(csv.reader(io.StringIO(zf.read("measurements.csv").decode())))
        descriptor = json.loads(zf.read("datapackage.json"))
    assert built.rows == len(readings) == len(table) - 1
    assert [(datetime.fromisoformat(t), m, float(v), u) for t, m, v, u in table[1:]] == readings
    assert [f["name"] for f in descriptor["resources"][0]["schema"]["fields"]] == [
        "timestamp", "metric", "value", "unit"]


def test_cursor_pages_cover_every_reading_once(checked_in, operator, sme):
    start = checked_in.start
    # Ties on purpose: 30 readings share each instant (10 metrics, three uploads' worth).
    rows = [(start + timedelta(seconds=s), f"m{k}", float(s * 100 + k), "u")
            for s in range(9) for k in range(30)]
    trial = _upload(checked_in, operator, rows)
    client, seen = key_client(sme), []
    url = f"/api/v1/trials/{trial.pk}/measurements/?page_size=7"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 7
        seen += [(datetime.fromisoformat(r["timestamp"]), r["metric"], r["value"], r["unit"])
                 for r in page["results"]]
        url = page["next"]
    assert len(seen) == len(rows) and set(seen) == set(rows)
    assert seen == sorted(seen, key=lambda r: r[0])
    # And back: the previous links walk the same readings in reverse.
    r = client.get(f"/api/v1/trials/{trial.pk}/measurements/?page_size=100").json()
    last = client.get(r["next"]).json()
    previous = client.get(last["previous"]).json()
    assert previous["results"] == r["results"]


def test_bad_cursor_is_a_400_problem(checked_in, operator, sme):
    trial = _upload(checked_in, operator, _readings(checked_in.start, seconds=2))
    r = key_client(sme).get(f"/api/v1/trials/{trial.pk}/measurements/?cursor=bm9wZQ")
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"


def test_too_many_metrics_is_a_format_error(checked_in, operator, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_METRICS", 3)
    rows = [(checked_in.start, f"m{k}", 1.0, "") for k in range(4)]
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        _upload(checked_in, operator, rows)
    [violation] = exc.value.violations
    assert violation.code == "results_invalid"
    assert "more than 3 different metrics" in violation.message
    assert Measurement.objects.filter(trial_id=checked_in.pk).count() == 0


def test_collector_observations_become_readings_inside_the_database(checked_in, operator,
                                                                   equipment):
    start = checked_in.start
    Observation.objects.bulk_create(
        [Observation(equipment=equipment, ts=start + timedelta(seconds=s), metric=m,
                     value=s + k / 10, unit=u, seq=0)
         for s in range(-2, 30) for k, (m, u) in enumerate([("load", "%"), ("state", "")])])
    trial = Trial.objects.get(pk=checked_in.pk)
    window = ingest.ObservationWindow(equipment.pk, start, start + timedelta(seconds=20))
    count = ingest.store_measurements(trial, window)
    assert count == 40
    assert set(TrialMetric.objects.filter(trial=trial).values_list("name", "unit")) == {
        ("load", "%"), ("state", "")}
    back = list(selectors.reading_rows(trial))
    assert back[0][0] == start and back[-1][0] == start + timedelta(seconds=19)
    assert [v for _t, m, v, _u in back if m == "load"] == [float(s) for s in range(20)]


def test_deleting_a_trial_takes_its_readings_and_dictionary(checked_in, operator):
    trial = _upload(checked_in, operator, _readings(checked_in.start, seconds=3))
    other = Measurement.objects.exclude(trial=trial).count()
    trial.delete()
    assert not Measurement.objects.filter(trial_id=checked_in.pk).exists()
    assert not TrialMetric.objects.filter(trial_id=checked_in.pk).exists()
    assert Measurement.objects.count() == other


def test_admin_lists_no_readings():
    from django.contrib import admin

    assert Measurement not in admin.site._registry and Trial in admin.site._registry


@pytest.mark.postgres
def test_postgres_has_a_brin_index_and_copies_when_a_metric_arrives_late(checked_in, operator):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (runs on sqlite; set DATABASE_URL=postgres://…)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s",
                       [Measurement._meta.db_table])
        definitions = [row[0] for row in cursor.fetchall()]
    assert any("USING brin (trial_id, ts)" in d and "autosummarize" in d for d in definitions)
    assert not any("btree (trial_id" in d or "metric_id)" in d for d in definitions)
    # 12,000 rows: COPY batches of 5,000, and a metric first seen after the first batch.
    start = checked_in.start
    rows = [(start + timedelta(seconds=i), "load", float(i), "%") for i in range(7000)]
    rows += [(start + timedelta(seconds=i), "late", -float(i), "") for i in range(5000)]
    trial = _upload(checked_in, operator, rows)
    assert trial.measurement_count == 12000
    assert trial.summary["late"]["count"] == 5000 and trial.summary["late"]["min"] == -4999.0
    assert list(selectors.reading_rows(trial))[:2] == [
        (start.astimezone(UTC), "load", 0.0, "%"), (start.astimezone(UTC), "late", 0.0, "")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_existing_measurements(checked_in, operator, gateway):
    from tests.fixtures.peers import Reply, results_csv
    from tests.trials.test_release_outbox_migration import latest

    gateway.reply(Reply(body=results_csv(checked_in.start, rows=3)))
    complete(checked_in, operator)
    before = [("trials", "0012_verbose_names")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        legacy = old.get_model("trials", "Measurement")
        legacy.objects.all().delete()
        t0 = checked_in.start
        legacy.objects.bulk_create([
            legacy(trial_id=checked_in.pk, ts=t0 + timedelta(seconds=i), metric=m, value=v,
                   unit=u)
            for i, (m, v, u) in enumerate([("load", 1.5, "%"), ("load", 2.5, "%"),
                                           ("temp", 20.25, "°C"), ("temp", 68.0, "°F")])])
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
    finally:
        executor.migrate(latest())
    trial = Trial.objects.get(pk=checked_in.pk)
    assert list(selectors.reading_rows(trial)) == [
        (t0 + timedelta(seconds=0), "load", 1.5, "%"),
        (t0 + timedelta(seconds=1), "load", 2.5, "%"),
        (t0 + timedelta(seconds=2), "temp", 20.25, "°C"),
        (t0 + timedelta(seconds=3), "temp", 68.0, "°F")]
    assert TrialMetric.objects.filter(trial=trial).count() == 3
