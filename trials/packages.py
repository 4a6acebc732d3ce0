"""Frictionless Data Packages (https://specs.frictionlessdata.io/) for dataset releases:
``datapackage.json`` with a Table Schema per CSV resource, ``measurements.csv`` and
``summary.csv``, zipped. Anonymised as the agreement says."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from core import csv as core_csv

from .models import DatasetRelease
from .selectors import reading_rows

# Each licence's title (pages show it in the reader's language; a package's descriptor
# names it in English, as the rest of the descriptor) and its deed.
LICENSES = {
    "CC-BY-4.0": (gettext_lazy("Creative Commons Attribution 4.0"),
                  "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": (gettext_lazy("Creative Commons Attribution Share-Alike 4.0"),
                     "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC-BY-NC-4.0": (gettext_lazy("Creative Commons Attribution Non-Commercial 4.0"),
                     "https://creativecommons.org/licenses/by-nc/4.0/"),
    "CC0-1.0": (gettext_lazy("CC0 1.0 Universal"),
                "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-BY-1.0": (gettext_lazy("Open Data Commons Attribution License 1.0"),
                   "https://opendatacommons.org/licenses/by/1-0/"),
}


def terms_of(release: DatasetRelease) -> dict:
    """The terms the package is built under: those the sharing service worked out from the
    SME's consent (``release.terms``). Never the agreement's current terms, which may have
    been loosened since: a release without recorded terms (made some other way) is treated
    as strictly as there is — anonymised, timestamps shifted — under the terms of the
    version its consent was given under, or else the agreement's first version."""
    if release.terms:
        return release.terms
    version = (release.consent.version if release.consent_id else
               release.agreement.versions.order_by("number").first())
    base = version.terms if version is not None else release.agreement.terms()
    return {**base, "anonymize": True, "shift_timestamps": True}


def trial_reference(release: DatasetRelease) -> str:
    """The trial's name towards the university: a pseudonym when anonymised (stable per
    agreement, so two releases of one trial cannot be linked across universities)."""
    if not terms_of(release)["anonymize"]:
        return f"trial-{release.trial_id}"
    digest = hmac.new(settings.SECRET_KEY.encode(),
                      f"{release.agreement_id}:{release.trial_id}".encode(), hashlib.sha256)
    return f"trial-{digest.hexdigest()[:16]}"


def metadata(release: DatasetRelease) -> dict:
    """What the university learns about the trial and equipment (anonymised as agreed)."""
    agreed, trial = terms_of(release), release.trial
    booking = trial.booking
    equipment = booking.equipment
    info = {
        "trial": {"id": trial_reference(release),
                  "duration_seconds": int((booking.end - booking.start).total_seconds())},
        "equipment": {"name": equipment.name, "category": equipment.category.slug,
                      "hub": equipment.hub.name, "operator": equipment.hub.operator.name},
    }
    if not agreed["shift_timestamps"]:
        info["trial"].update(start=booking.start.isoformat(), end=booking.end.isoformat())
    if not agreed["anonymize"]:
        info["trial"].update(organization=booking.organization.name, purpose=booking.purpose)
    return info


def _license(code: str) -> dict:
    title, path = LICENSES.get(code, (code, ""))
    with translation.override("en"):
        out = {"name": code, "title": str(title)}
    if path:
        out["path"] = path
    return out


def descriptor(release: DatasetRelease, created) -> dict:
    agreement, agreed = release.agreement, terms_of(release)
    booking = release.trial.booking
    equipment = booking.equipment
    ts_field = ({"name": "seconds_from_start", "type": "number",
                 "description": "Seconds since the start of the trial."}
                if agreed["shift_timestamps"] else
                {"name": "timestamp", "type": "datetime", "format": "default",
                 "description": "Time of the reading (UTC)."})
    description = (f"Readings from {equipment.name} ({equipment.category.name}) at "
                   f"{equipment.hub.name}, released under agreement #{agreement.pk}.")
    if not agreed["anonymize"]:
        description += f" Trial by {booking.organization.name}: {booking.purpose}"
    return {
        "profile": "tabular-data-package",
        "name": f"testbed-release-{release.pk}",
        "title": f"{equipment.category.name} trial on {equipment.name}",
        "description": description,
        "id": trial_reference(release),
        "created": created.isoformat(),
        "licenses": [_license(agreed["license"])],
        "contributors": [{"title": equipment.hub.operator.name, "role": "publisher"}],
        "sources": [{"title": f"{equipment.name}, {equipment.hub.name}"}],
        "keywords": [equipment.category.slug, "smart-manufacturing", "testbed"],
        "resources": [
            {
                "name": "measurements", "path": "measurements.csv",
                "profile": "tabular-data-resource",
                "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                "schema": {"fields": [
                    ts_field,
                    {"name": "metric", "type": "string", "description": "What was measured."},
                    {"name": "value", "type": "number",
                     "description": "The reading, in the unit of the 'unit' field."},
                    {"name": "unit", "type": "string", "description": "Unit of the value."},
                ]},
            },
            {
                "name": "summary", "path": "summary.csv", "profile": "tabular-data-resource",
                "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                "schema": {"fields": [
                    {"name": "metric", "type": "string"},
                    {"name": "unit", "type": "string"},
                    {"name": "count", "type": "integer"},
                    {"name": "min", "type": "number"},
                    {"name": "max", "type": "number"},
                    {"name": "mean", "type": "number"},
                ], "primaryKey": ["metric", "unit"]},
            },
        ],
    }


@dataclass(frozen=True)
class BuiltPackage:
    file: tempfile.SpooledTemporaryFile
    sha256: str
    size: int
    rows: int


def build(release: DatasetRelease) -> BuiltPackage:
    """The zip for ``release``, spooled to disk when large."""
    trial = release.trial
    shift = terms_of(release)["shift_timestamps"]
    start = trial.booking.start
    # Handed to the caller, who stores it and lets it be collected.
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    rows = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        entry = zipfile.ZipInfo("measurements.csv", date_time=timezone.now().timetuple()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(entry, "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = core_csv.writer(text, lineterminator="\n")
            writer.writerow(["seconds_from_start" if shift else "timestamp", "metric", "value",
                             "unit"])
            # Streamed from a server-side cursor into the deflater: memory stays bounded
            # whatever the trial's size (the zip itself spools to a temporary file).
            for ts, metric, value, unit in reading_rows(trial, chunk=10000):
                when = round((ts - start).total_seconds(), 3) if shift else ts.isoformat()
                writer.writerow([when, metric, value, unit])
                rows += 1
            text.flush()
            text.detach()
        summary = io.StringIO()
        writer = core_csv.writer(summary, lineterminator="\n")
        writer.writerow(["metric", "unit", "count", "min", "max", "mean"])
        for metric, s in sorted(trial.summary.items()):
            writer.writerow([metric, s["unit"], s["count"], s["min"], s["max"], s["mean"]])
        zf.writestr("summary.csv", summary.getvalue())
        zf.writestr("datapackage.json",
                    json.dumps(descriptor(release, timezone.now()), indent=2, ensure_ascii=False))
    size = out.tell()
    out.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: out.read(1024 * 1024), b""):
        digest.update(chunk)
    out.seek(0)
    return BuiltPackage(out, digest.hexdigest(), size, rows)
