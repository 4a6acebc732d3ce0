"""Measurements at scale (issue 17, part 3), all measured in one run on one database:

- COPY ingestion: READINGS readings (20 channels at 10 Hz) for one trial through
  ``trials.ingest.store_results`` (the results body parsed and every row checked — on
  PostgreSQL by Arrow's fast path, ``trials.fast_ingest`` — the trial's metric dictionary,
  COPY) against a raw psycopg COPY of the same rows into the same table — target ≥ 70 %;
  and the whole collection around it (HTTP fetch from a local gateway, the same
  ingestion, the summary by the database, status) against the same raw COPY;
- bytes per reading on disk (table + indexes, ``pg_total_relation_size``): today's layout
  (the old one-row-per-reading table with metric and unit text and its B-tree, created
  here and COPYed the same readings) against the compact one — ceiling: at most half;
- peak RSS of a CSV export (the API's streamed ``?format=csv``) and of a data package
  (``trials.packages.build``) of the trial, each in a subprocess of its own (its VmHWM) —
  against the 300 MB bound (ceiling: at most 1).

``INGESTION_READINGS`` shrinks the trial for a quick try; the figures are for 10 M.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from .harness import ROOT, BenchFailure, Figure

READINGS = int(os.environ.get("INGESTION_READINGS", "10000000"))
HZ = 10
CHANNELS = [("spindle_load", "%"), ("spindle_speed", "rpm"), ("feed_rate", "mm/min"),
            ("vibration_rms_x", "mm/s"), ("vibration_rms_y", "mm/s"),
            ("vibration_rms_z", "mm/s"), ("motor_current", "A"), ("motor_temperature", "°C"),
            ("coolant_temperature", "°C"), ("coolant_flow", "l/min"), ("axis_x_position", "mm"),
            ("axis_y_position", "mm"), ("axis_z_position", "mm"), ("tool_wear", "µm"),
            ("cutting_force", "N"), ("acoustic_emission", "dB"), ("power_draw", "kW"),
            ("air_pressure", "bar"), ("ambient_temperature", "°C"),
            ("surface_roughness_ra", "µm")]
RSS_BOUND_MB = 300
LONG = "-c statement_timeout=1800000"  # 10 M-row COPYs outlast the harness's 10 s bound
BATCH = 5000

# The old layout, as trials/migrations/0001 made it (id, text metric and unit in every
# row, B-tree on (trial, metric, ts)): "today's" bytes per reading, measured in this run.
TODAY_DDL = """
CREATE TABLE bench_measurement_today (
    id bigserial PRIMARY KEY, ts timestamptz NOT NULL, metric varchar(64) NOT NULL,
    value double precision NOT NULL, unit varchar(16) NOT NULL,
    trial_id bigint NOT NULL REFERENCES trials_trial (booking_id) DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX bench_measurement_today_trial_metric_ts
    ON bench_measurement_today (trial_id, metric, ts);
"""


def _value(i: int, j: int) -> str:
    """A plausible reading: a slow wave plus noise, three decimals (as gateways send)."""
    return f"{50 + 20 * math.sin(i / 50 + j) + ((i * 7919 + j * 104729) % 1000) / 100:.3f}"


def _readings(start):
    """(iso time, channel index, value text), time-major: every channel at each instant."""
    step = timedelta(seconds=1 / HZ)
    for i in range(READINGS // len(CHANNELS)):
        ts = (start + i * step).isoformat()
        for j in range(len(CHANNELS)):
            yield ts, j, _value(i, j)


def _chunks(lines):
    buffer = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= BATCH:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


def _serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/results"


def _trial(world, equipment, start, hours: int):
    """A completed booking with its trial (pending), written directly: the trial lies in
    the past, which the booking services rightly refuse."""
    from bookings.models import Booking
    from trials.models import Trial

    booking = Booking.objects.create(
        equipment=equipment, organization_id=world.smes[0].id, operator_id=world.operator_id,
        start=start,
        end=start + timedelta(hours=hours), blocked_until=start + timedelta(hours=hours),
        status=Booking.Status.COMPLETED, purpose="ingestion benchmark", price=0)
    return Trial.objects.create(booking=booking)


def _raw_copy(url: str, sql: str, chunks: list[str]) -> float:
    with psycopg.connect(url, options=LONG) as conn:
        began = time.perf_counter()
        with conn.cursor() as cur, cur.copy(sql) as copy:
            for chunk in chunks:
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - began


def _bytes(url: str, *tables: str) -> int:
    with psycopg.connect(url, options=LONG) as conn:
        return sum(conn.execute("SELECT pg_total_relation_size(%s::regclass)", [t]).fetchone()[0]
                   for t in tables)


# Run in a fresh interpreter: its own peak RSS (VmHWM) is the export's, nothing else's.
EXPORT = r"""
import json, sys
import django
django.setup()
kind, trial_id, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
from trials.models import Trial
trial = Trial.objects.select_related("booking__equipment__hub__operator",
                                     "booking__equipment__category").get(pk=trial_id)
if kind == "csv":
    from django.test import Client
    client = Client(HTTP_AUTHORIZATION="Bearer " + sys.argv[4])
    response = client.get(f"/api/v1/trials/{trial_id}/measurements/?format=csv")
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for part in response.streaming_content:
        size += len(part)
        lines += part.count(b"\n")
    rows = lines - 1
else:
    from trials import packages
    from trials.models import DatasetRelease, SharingAgreement
    release = DatasetRelease(pk=1, trial=trial, agreement=SharingAgreement(pk=1), terms={
        "anonymize": True, "shift_timestamps": True, "license": "CC-BY-4.0"})
    built = packages.build(release)
    size, rows = built.size, built.rows
# VmHWM: this process's own high-water mark since exec. (ru_maxrss would not do: Linux
# carries it over from the parent across fork and exec, and the parent holds the body.)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({"rows": rows, "bytes": size, "peak_kb": hwm}))
"""


def _export(ctx, kind: str, trial_id: int, api_key: str) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, bytes) of one export in its own process."""
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", EXPORT, kind, str(trial_id), str(READINGS), api_key],
        cwd=ROOT, env={**os.environ, **ctx.env}, capture_output=True, text=True,
        timeout=3600, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchFailure(f"{kind} export failed: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["rows"] != READINGS:
        raise BenchFailure(f"{kind} export wrote {out['rows']} rows, not {READINGS}")
    return out["peak_kb"] / 1024, seconds, out["bytes"]


def ingestion(ctx) -> list[Figure]:
    from django.db import transaction
    from django.test import override_settings

    from equipment.models import Equipment
    from trials import ingest, services
    from trials.models import Measurement, Trial, TrialMetric

    from .world import local_midnight

    began_all = time.perf_counter()
    start = local_midnight(-30)
    body = "timestamp,metric,value,unit\n" + "".join(
        f"{t},{CHANNELS[j][0]},{v},{CHANNELS[j][1]}\n" for t, j, v in _readings(start))
    body = body.encode()
    server, url = _serve(body)
    try:
        equipment = Equipment.objects.get(pk=ctx.world.equipment_ids[0])
        equipment.result_source_kind, equipment.result_source_url = "http", url
        equipment.save(update_fields=["result_source_kind", "result_source_url"])
        hours = READINGS // len(CHANNELS) // HZ // 3600 + 1
        raw_trial = _trial(ctx.world, equipment, start, hours)
        app_trial = _trial(ctx.world, equipment, start + timedelta(days=1), hours)

        # Reference: the same readings, already formatted, straight into COPY (the raw
        # trial's dictionary made beforehand, untimed).
        ids = [TrialMetric.objects.create(trial=raw_trial, name=m, unit=u).pk
               for m, u in CHANNELS]
        prefix = f"{raw_trial.pk}\t"
        chunks = list(_chunks(f"{prefix}{ids[j]}\t{t}\t{v}\n" for t, j, v in _readings(start)))
        raw_seconds = _raw_copy(
            ctx.url, "COPY trials_measurement (trial_id, metric_id, ts, value) FROM STDIN",
            chunks)
        del chunks

        began = time.perf_counter()
        with override_settings(TRIAL_RESULT_MAX_BYTES=len(body) + 1):  # ~600 MB at 10 M
            outcome = services.collect_trial_results(trial_id=app_trial.pk)
        app_seconds = time.perf_counter() - began
        trial = Trial.objects.get(pk=app_trial.pk)
        if outcome.status != "collected" or trial.measurement_count != READINGS:
            raise BenchFailure(f"collection stored {trial.measurement_count} readings, "
                               f"status {outcome.status}: {trial.last_error}")
        # The COPY ingestion alone: the body the source gave, parsed, checked and COPYed
        # (ingest.store_results, what the collection calls), without the fetch before it
        # and the summary after it.
        copy_trial = _trial(ctx.world, equipment, start + timedelta(days=2), hours)
        began = time.perf_counter()
        with transaction.atomic():
            stored_once = ingest.store_results(copy_trial, body, "text/csv")
        ingest_seconds = time.perf_counter() - began
        del body
        if stored_once != READINGS:
            raise BenchFailure(f"store_results stored {stored_once} readings")
    finally:
        server.shutdown()
        server.server_close()
    stored = Measurement.objects.count()  # both trials, same layout
    compact = _bytes(ctx.url, "trials_measurement", "trials_trialmetric") / stored
    print(f"ingestion: raw COPY {raw_seconds:.1f} s, COPY ingestion {ingest_seconds:.1f} s, "
          f"collection path {app_seconds:.1f} s ({READINGS:,} readings)", flush=True)

    # Today's layout: the same readings as text rows into the old-shaped table.
    with psycopg.connect(ctx.url, options=LONG) as conn:
        conn.execute(TODAY_DDL)
        conn.commit()
    prefix = f"{raw_trial.pk}\t"
    chunks = list(_chunks(f"{prefix}{t}\t{CHANNELS[j][0]}\t{v}\t{CHANNELS[j][1]}\n"
                          for t, j, v in _readings(start)))
    today_seconds = _raw_copy(
        ctx.url, "COPY bench_measurement_today (trial_id, ts, metric, value, unit) FROM STDIN",
        chunks)
    del chunks
    today = _bytes(ctx.url, "bench_measurement_today") / READINGS
    with psycopg.connect(ctx.url, options=LONG) as conn:
        conn.execute("DROP TABLE bench_measurement_today")
        conn.commit()
    print(f"bytes per reading: today's layout {today:.1f} (raw COPY {READINGS / today_seconds:,.0f}"
          f" rows/s), compact {compact:.1f}", flush=True)

    # Exports of the collected trial (the SME's API key), each in its own process.
    api_key = ctx.world.smes[0].api_key
    csv_mb, csv_seconds, csv_bytes = _export(ctx, "csv", app_trial.pk, api_key)
    zip_mb, zip_seconds, zip_bytes = _export(ctx, "package", app_trial.pk, api_key)
    print(f"CSV export: {csv_bytes / 1e6:,.0f} MB in {csv_seconds:.0f} s, peak RSS "
          f"{csv_mb:.0f} MB; data package: {zip_bytes / 1e6:,.0f} MB zip in {zip_seconds:.0f} s, "
          f"peak RSS {zip_mb:.0f} MB; whole figure {time.perf_counter() - began_all:.0f} s",
          flush=True)

    n = f"{READINGS / 1e6:g} M readings"
    return [
        Figure(f"trial COPY ingestion, readings/s ({n}, 20 channels at 10 Hz: the CSV body "
               "parsed and checked, metric dictionary, COPY; ingest.store_results)",
               READINGS / ingest_seconds, "rows/s",
               "raw psycopg COPY of the same rows, same table, rows/s",
               READINGS / raw_seconds, "rows/s", target=0.7, percent=True),
        Figure(f"trial collection, readings/s ({n}: HTTP fetch from a loopback gateway, the "
               "same ingestion, summary by the database, status)",
               READINGS / app_seconds, "rows/s",
               "raw psycopg COPY of the same rows, same table, rows/s",
               READINGS / raw_seconds, "rows/s", percent=True),
        Figure("bytes per reading on disk (table + indexes), compact layout (metric "
               "dictionary, BRIN): at most half of today's",
               compact, "B", "today's layout (text metric and unit per row, B-tree)", today,
               "B", ceiling=0.5),
        Figure(f"CSV export of {n} (API ?format=csv, streamed, own process): peak RSS",
               csv_mb, "MB", "bound", RSS_BOUND_MB, "MB", ceiling=1.0),
        Figure(f"data package of {n} (packages.build, own process): peak RSS", zip_mb, "MB",
               "bound", RSS_BOUND_MB, "MB", ceiling=1.0),
    ]
