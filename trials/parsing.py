"""Parse trial results: CSV with header ``timestamp,metric,value,unit`` or a JSON list of
objects with those keys. Every error names the line (CSV) or item (JSON) at fault.

Rows come out as ``Row(ts_text, ts, metric, value, unit)``: the timestamp both as the
validated text (handed to PostgreSQL's COPY as it is) and as a datetime."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
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


Where = str | Callable[[], str]  # the place named in errors (made only when one is raised)


def _fail(message: str, where: Where, **values) -> ResultFormatError:
    return ResultFormatError(message % {"where": where() if callable(where) else where,
                                        **values})


def _timestamp(where: Where, ts_text) -> tuple[str, datetime]:
    if not isinstance(ts_text, str):
        raise _fail(_("%(where)s: timestamp must be an ISO 8601 string."), where)
    ts_text = ts_text.strip()
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        raise _fail(_("%(where)s: timestamp %(value)r is not ISO 8601."), where,
                    value=ts_text[:40]) from None
    offset = ts.utcoffset()
    if offset is None:
        raise _fail(_("%(where)s: timestamp %(value)r has no UTC offset."), where,
                    value=ts_text[:40])
    # Real offsets lie within ±14:00 (PostgreSQL takes at most ±15:59); times outside
    # 1970–2999 are typos and overflow in time-zone arithmetic.
    if abs(offset) > MAX_OFFSET or not EARLIEST <= ts < LATEST:
        raise _fail(_("%(where)s: timestamp %(value)r is out of range "
                      "(1970–2999, offset within ±14:00)."), where, value=ts_text[:40])
    return ts_text, ts


def check_names(where: Where, metric, unit) -> tuple[str, str]:
    if not isinstance(metric, str) or not metric.strip():
        raise _fail(_("%(where)s: metric is empty."), where)
    metric = metric.strip()
    if "\x00" in metric or (isinstance(unit, str) and "\x00" in unit):
        raise _fail(_("%(where)s: text may not contain NUL (0x00) characters."), where)
    if len(metric) > MAX_METRIC:
        raise _fail(_("%(where)s: metric is longer than %(max)d characters."), where,
                    max=MAX_METRIC)
    unit = "" if unit is None else str(unit).strip()
    if len(unit) > MAX_UNIT:
        raise _fail(_("%(where)s: unit is longer than %(max)d characters."), where,
                    max=MAX_UNIT)
    return metric, unit


def _number(where: Where, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(_("%(where)s: value %(value)r is not a number."), where,
                    value=str(value)[:40]) from None
    if not math.isfinite(number):
        raise _fail(_("%(where)s: value %(value)r is not a finite number."), where,
                    value=str(value)[:40])
    return number


def _row(where: Where, ts_text, metric, value, unit) -> Row:
    ts_text, ts = _timestamp(where, ts_text)
    metric, unit = check_names(where, metric, unit)
    return Row(ts_text, ts, metric, _number(where, value), unit)


NAMES_CACHE = 4096  # (metric, unit) pairs remembered as checked while parsing one file


BLOCK = 1 << 20  # characters split into lines at a time by the plain-CSV path


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each line, blank lines left out. Text without quotes or
    carriage returns is plain: each line is its fields split at commas, which is what the
    csv module would read, split a block at a time in C. Anything else goes through the
    csv module."""
    if '"' in text or "\r" in text:
        reader = csv.reader(io.StringIO(text))
        try:
            for fields in reader:
                if fields:
                    yield reader.line_num, fields
        except csv.Error:  # e.g. a lone carriage return in an unquoted field
            raise ResultFormatError(
                _("line %(number)d: this is not valid CSV (for example, a line break inside "
                  "an unquoted field).") % {"number": reader.line_num}) from None
        return
    number, begin, size = 0, 0, len(text)
    while begin < size:
        end = text.find("\n", begin + BLOCK)
        if end < 0:
            end = size
        for line in text[begin:end].split("\n"):
            number += 1
            if line:
                yield number, line.split(",")
        begin = end + 1


def parse_csv(text: str) -> Iterator[Row]:
    """Rows of a CSV; each field is checked as ``_row`` checks it. Consecutive rows sharing
    a timestamp (every channel read at one instant) and repeated (metric, unit) pairs are
    checked once: at millions of rows, parsing is what the ingestion waits for."""
    records = _csv_records(text.lstrip("\ufeff"))
    first = next(records, None)
    if first is None:
        raise ResultFormatError(_("The results are empty (no header line)."))
    number, header = first
    if number != 1 or [h.strip().lower() for h in header] != HEADER:
        raise ResultFormatError(
            _("line 1: expected the header 'timestamp,metric,value,unit', got %(header)r.")
            % {"header": ",".join(header if number == 1 else [])[:80]})

    def where() -> str:
        return _("line %(number)d") % {"number": number}

    names: dict[tuple[str, str], tuple[str, str]] = {}
    seen_text, ts_text, ts = None, "", None
    isfinite, new_row = math.isfinite, tuple.__new__  # Row(...) costs twice as much
    for number, fields in records:  # noqa: B007 - ``where`` reads ``number``
        if len(fields) != 4:
            raise ResultFormatError(
                _("line %(number)d: expected 4 fields, found %(count)d.")
                % {"number": number, "count": len(fields)})
        raw_ts, metric, value, unit = fields
        if raw_ts != seen_text:
            ts_text, ts = _timestamp(where, raw_ts)
            seen_text = raw_ts
        pair = names.get((metric, unit))
        if pair is None:
            if len(names) >= NAMES_CACHE:
                names.clear()
            pair = names[(metric, unit)] = check_names(where, metric, unit)
        try:
            number_value = float(value)
        except ValueError:
            number_value = _number(where, value)  # raises, naming the line
        if not isfinite(number_value):
            _number(where, value)
        yield new_row(Row, (ts_text, ts, pair[0], number_value, pair[1]))


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
    if is_json(content_type, text.lstrip()[:1]):
        return parse_json(text)
    return parse_csv(text)


def is_json(content_type: str, first: str) -> bool:
    """Whether a body is read as JSON: by its content type, else by its first non-blank
    character (``first``)."""
    kind = content_type.split(";")[0].strip().lower()
    return kind.endswith("json") or (not kind.endswith("csv") and first != "" and first in "[{")
