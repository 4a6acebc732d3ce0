"""Trial ingestion: 1,000,000 measurements for one trial through the app's collection
path (HTTP fetch from a local gateway, parse and validate every row, COPY, summary by
the database, status) against a raw psycopg COPY of the same rows into the same table.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .harness import Figure, connect

ROWS = 1_000_000
METRICS = [("spindle_load", "%", 60.0), ("vibration_rms", "mm/s", 1.8),
           ("surface_roughness_ra", "µm", 0.8), ("cycle_time", "s", 184.0),
           ("defect_rate", "%", 1.2)]


def _rows(start):
    """ROWS readings, 5 metrics a second from ``start``: (iso time, metric, value, unit)."""
    per_metric = ROWS // len(METRICS)
    for i in range(per_metric):
        ts = (start + timedelta(seconds=i)).isoformat()
        for j, (metric, unit, base) in enumerate(METRICS):
            yield ts, metric, f"{base + ((i * 7 + j) % 97) / 100:.3f}", unit


def _serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/results"


def _trial(world, equipment, start, hours: int):
    """A completed booking with its trial (pending), written directly: the trial lies in
    the past, which the booking services rightly refuse."""
    from bookings.models import Booking
    from trials.models import Trial

    booking = Booking.objects.create(
        equipment=equipment, organization_id=world.smes[0].id, start=start,
        end=start + timedelta(hours=hours), blocked_until=start + timedelta(hours=hours),
        status=Booking.Status.COMPLETED, purpose="ingestion benchmark", price=0)
    return Trial.objects.create(booking=booking)


def ingestion(ctx) -> list[Figure]:
    from equipment.models import Equipment
    from trials import services
    from trials.models import Measurement, Trial

    from .world import local_midnight

    start = local_midnight(-30)
    rows = list(_rows(start))
    body = ("timestamp,metric,value,unit\n"
            + "".join(f"{t},{m},{v},{u}\n" for t, m, v, u in rows)).encode()
    server, url = _serve(body)
    try:
        equipment = Equipment.objects.get(pk=ctx.world.equipment_ids[0])
        equipment.result_source_kind, equipment.result_source_url = "http", url
        equipment.save(update_fields=["result_source_kind", "result_source_url"])
        hours = ROWS // len(METRICS) // 3600 + 1
        raw_trial = _trial(ctx.world, equipment, start, hours)
        app_trial = _trial(ctx.world, equipment, start + timedelta(days=1), hours)

        # Reference: the same rows, already formatted, straight into COPY.
        prefix = f"{raw_trial.pk}\t"
        lines = [f"{prefix}{t}\t{m}\t{v}\t{u}\n" for t, m, v, u in rows]
        with connect(ctx.url) as conn:
            began = time.perf_counter()
            with conn.cursor() as cur, cur.copy(
                    "COPY trials_measurement (trial_id, ts, metric, value, unit) FROM STDIN"
                    ) as copy:
                for i in range(0, len(lines), 5000):
                    copy.write("".join(lines[i:i + 5000]))
            conn.commit()
            raw_seconds = time.perf_counter() - began
        del lines

        began = time.perf_counter()
        outcome = services.collect_trial_results(trial_id=app_trial.pk)
        app_seconds = time.perf_counter() - began
        stored = Measurement.objects.filter(trial=app_trial).count()
        trial = Trial.objects.get(pk=app_trial.pk)
        if outcome.status != "collected" or stored != ROWS or trial.measurement_count != ROWS:
            raise RuntimeError(f"collection stored {stored} rows, status {outcome.status}: "
                               f"{trial.last_error}")
    finally:
        server.shutdown()
        server.server_close()
    return [Figure(
        f"trial ingestion through the collection path, rows/s ({ROWS:,} rows: HTTP fetch, "
        "parse, COPY, summary)", ROWS / app_seconds, "rows/s",
        "raw psycopg COPY of the same rows, same table, rows/s", ROWS / raw_seconds, "rows/s",
        target=0.5, percent=True)]
