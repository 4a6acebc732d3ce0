"""Parse trial results: CSV with header ``timestamp,metric,value,unit`` or a JSON list of
objects with those keys. Every error names the line (CSV) or item (JSON) at fault.

Rows come out as ``Row(ts_text, ts, metric, value, unit)``: the timestamp both as the
validated text (handed to PostgreSQL's COPY as it is) and as a datetime."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.utils.translation import gettext as _

HEADER = ["timestamp", "metric", "value", "unit"]
MAX_OFFSET = timedelta(hours=14)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_METRIC = 64
MAX_UNIT = 16


class ResultFormatError(ValueError):
    """The results are malformed; ``str(exc)`` says where and how."""


class Row(NamedTuple):
    ts_text: str
    ts: datetime
    metric: str
    value: float
    unit: str


def _row(where: str, ts_text, metric, value, unit) -> Row:
    if not isinstance(ts_text, str):
        raise ResultFormatError(_("%(where)s: timestamp must be an ISO 8601 string.")
                                % {"where": where})
    ts_text = ts_text.strip()
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        raise ResultFormatError(_("%(where)s: timestamp %(value)r is not ISO 8601.")
                                % {"where": where, "value": ts_text[:40]}) from None
    offset = ts.utcoffset()
    if offset is None:
        raise ResultFormatError(_("%(where)s: timestamp %(value)r has no UTC offset.")
                                % {"where": where, "value": ts_text[:40]})
    # Real offsets lie within ±14:00 (PostgreSQL takes at most ±15:59); times outside
    # 1970–2999 are typos and overflow in time-zone arithmetic.
    if abs(offset) > MAX_OFFSET or not EARLIEST <= ts < LATEST:
        raise ResultFormatError(_("%(where)s: timestamp %(value)r is out of range "
                                  "(1970–2999, offset within ±14:00).")
                                % {"where": where, "value": ts_text[:40]})
    if not isinstance(metric, str) or not metric.strip():
        raise ResultFormatError(_("%(where)s: metric is empty.") % {"where": where})
    metric = metric.strip()
    if "\x00" in metric or (isinstance(unit, str) and "\x00" in unit):
        raise ResultFormatError(_("%(where)s: text may not contain NUL (0x00) characters.")
                                % {"where": where})
    if len(metric) > MAX_METRIC:
        raise ResultFormatError(_("%(where)s: metric is longer than %(max)d characters.")
                                % {"where": where, "max": MAX_METRIC})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ResultFormatError(_("%(where)s: value %(value)r is not a number.")
                                % {"where": where, "value": str(value)[:40]}) from None
    if not math.isfinite(number):
        raise ResultFormatError(_("%(where)s: value %(value)r is not a finite number.")
                                % {"where": where, "value": str(value)[:40]})
    unit = "" if unit is None else str(unit).strip()
    if len(unit) > MAX_UNIT:
        raise ResultFormatError(_("%(where)s: unit is longer than %(max)d characters.")
                                % {"where": where, "max": MAX_UNIT})
    return Row(ts_text, ts, metric, number, unit)


def parse_csv(text: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise ResultFormatError(_("The results are empty (no header line)."))
    if [h.strip().lower() for h in header] != HEADER:
        raise ResultFormatError(
            _("line 1: expected the header 'timestamp,metric,value,unit', got %(header)r.")
            % {"header": ",".join(header)[:80]})
    for fields in reader:
        if not fields:
            continue
        if len(fields) != 4:
            raise ResultFormatError(
                _("line %(number)d: expected 4 fields, found %(count)d.")
                % {"number": reader.line_num, "count": len(fields)})
        yield _row(_("line %(number)d") % {"number": reader.line_num}, *fields)


def parse_json(text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultFormatError(_("Invalid JSON at line %(line)d, column %(column)d: "
                                  "%(error)s.")
                                % {"line": exc.lineno, "column": exc.colno, "error": exc.msg}
                                ) from None
    except RecursionError:  # e.g. "[" * 5000: hostile, never results
        raise ResultFormatError(_("The JSON is nested too deeply to be results.")) from None
    if not isinstance(items, list):
        raise ResultFormatError(_("JSON results must be a list of objects with timestamp, "
                                  "metric, value and unit."))
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ResultFormatError(_("item %(number)d: expected an object.") % {"number": i})
        missing = [k for k in HEADER[:3] if k not in item]
        if missing:
            raise ResultFormatError(_("item %(number)d: missing %(fields)s.")
                                    % {"number": i, "fields": ", ".join(missing)})
        yield _row(_("item %(number)d") % {"number": i}, item["timestamp"], item["metric"],
                   item["value"], item.get("unit", ""))


def parse(data: bytes, content_type: str = "") -> Iterator[Row]:
    """Rows from a CSV or JSON body; the format is taken from the content type, else sniffed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultFormatError(_("The results are not UTF-8 text (byte %(byte)d).")
                                % {"byte": exc.start}) from None
    kind = content_type.split(";")[0].strip().lower()
    first = text.lstrip()[:1]
    if kind.endswith("json") or (not kind.endswith("csv") and first and first in "[{"):
        return parse_json(text)
    return parse_csv(text)
