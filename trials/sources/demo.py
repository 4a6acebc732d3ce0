"""The demo equipment data gateway: realistic readings for any period, generated from
the equipment's category, deterministic per equipment and period. It also backs the
HTTP endpoint ``/demo-gateway/<equipment id>/`` so the HTTP source can be tried live."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from . import Payload

# metric, unit, baseline, amplitude of slow drift, noise
METRICS = {
    "cnc-machining": [("spindle_load", "%", 62.0, 12.0, 3.0),
                      ("vibration_rms", "mm/s", 1.8, 0.6, 0.15),
                      ("surface_roughness_ra", "µm", 0.8, 0.15, 0.05),
                      ("cycle_time", "s", 184.0, 6.0, 2.5)],
    "industrial-robotics": [("cycle_time", "s", 12.4, 0.8, 0.3),
                            ("position_error", "mm", 0.04, 0.01, 0.005),
                            ("motor_temperature", "°C", 48.0, 6.0, 0.8)],
    "vision-inspection": [("defect_rate", "%", 1.2, 0.5, 0.2),
                          ("inspection_time", "ms", 85.0, 10.0, 4.0),
                          ("false_reject_rate", "%", 0.4, 0.2, 0.08)],
    "additive-manufacturing": [("layer_temperature", "°C", 1620.0, 25.0, 8.0),
                               ("oxygen_level", "ppm", 380.0, 60.0, 15.0),
                               ("porosity", "%", 0.35, 0.1, 0.04)],
}
DEFAULT = [("spindle_load", "%", 55.0, 10.0, 3.0), ("vibration_rms", "mm/s", 2.0, 0.5, 0.2),
           ("cycle_time", "s", 95.0, 5.0, 2.0), ("defect_rate", "%", 1.5, 0.6, 0.25)]
STEP = timedelta(minutes=1)


def readings(category_slug: str, seed: str, start: datetime, end: datetime):
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    metrics = METRICS.get(category_slug, DEFAULT)
    moment, i = start, 0
    total = max(1, int((end - start) / STEP))
    while moment < end:
        phase = 2 * math.pi * i / total
        for name, unit, base, drift, noise in metrics:
            value = base + drift * math.sin(phase + len(name)) + rng.gauss(0, noise)
            yield moment, name, max(value, 0.0), unit
        moment += STEP
        i += 1


def render_csv(category_slug: str, seed: str, start: datetime, end: datetime) -> bytes:
    lines = ["timestamp,metric,value,unit"]
    lines += [f"{ts.isoformat()},{name},{value:.4f},{unit}"
              for ts, name, value, unit in readings(category_slug, seed, start, end)]
    return ("\n".join(lines) + "\n").encode()


def fetch(equipment, start: datetime, end: datetime) -> Payload:
    seed = f"{equipment.pk}:{start.isoformat()}"
    return Payload(render_csv(equipment.category.slug, seed, start, end), "text/csv")
