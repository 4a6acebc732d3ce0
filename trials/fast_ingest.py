"""The fast path for CSV results: Apache Arrow reads, checks and re-writes the rows in C++.

``trials.parsing`` checks each row in Python (~1–3 µs a reading: the ingestion waited on
it). Here ``pyarrow.csv`` reads the body a block at a time (``BLOCK_SIZE``: memory stays
bounded whatever the body's size) with typed columns — metric and unit dictionary-encoded
(a handful of distinct values per block), value float64, timestamp as text — and checks
each block vectorised, by the rules and limits of ``trials.parsing``:

- the header line exactly ``timestamp,metric,value,unit`` (a UTF-8 BOM allowed), four
  fields a line, blank lines skipped, line ends LF or CRLF;
- each distinct timestamp text of the block matches ``TIMESTAMP`` (ISO 8601 with seconds,
  at most six decimals and a UTC offset within ``MAX_OFFSET``) and Arrow converts it to
  microseconds in UTC (an invalid date fails); the block's times lie in
  [``EARLIEST``, ``LATEST``); the text goes to COPY as it came, as the Python path's does;
- each distinct (metric, unit) pair passes ``parsing.check_names`` (the Python path's own
  check: stripped, non-empty metric, no NUL, ``MAX_METRIC``/``MAX_UNIT``);
- every value converts to float64 (no empty field, no NA) and is finite.

The fast path takes a strict subset of what the Python parser accepts: anything it does not
take for sure (a failed check, a conversion error, quoting it would read differently, a
timestamp written another way) raises ``Unfit`` and the caller gives the same bytes to the
Python parser, which stores them or names the line at fault exactly as it always has.
"""

from __future__ import annotations

import array
import codecs
import struct
import sys
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .parsing import EARLIEST, HEADER, LATEST, MAX_OFFSET, ResultFormatError, check_names

_EARLIEST_US, _LATEST_US = (round(moment.timestamp() * 1_000_000) for moment in (EARLIEST, LATEST))

BLOCK_SIZE = 8 << 20  # bytes of CSV read, checked and written at a time
MAX_PAIRS = 1 << 20  # distinct metrics × distinct units in one block (far more: the Python path)

_HOURS, _MINUTES = divmod(int(MAX_OFFSET.total_seconds()) // 60, 60)
assert _MINUTES == 0  # noqa: S101 - the pattern below spells the bound in whole hours
# RE2 (Arrow's regex engine). The offset: below the bound in hours, or the bound exactly.
TIMESTAMP = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
             r"(\.\d{1,6})?(Z|[+-](" + "|".join(f"{h:02d}" for h in range(_HOURS))
             + r"):[0-5]\d|[+-]" + f"{_HOURS:02d}" + r":00)$")
HEADER_LINE = ",".join(HEADER).encode()
_TEXT = pa.dictionary(pa.int32(), pa.string())
UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")


class Unfit(Exception):  # noqa: N818 - a verdict, not a failure: the Python path takes over
    """The body is not one the fast path can take for sure; the Python parser reads it."""


class Block(NamedTuple):
    """Checked rows: ``pairs`` the distinct (metric, unit), stripped as the Python path
    strips them; ``pair`` each row's position in ``pairs``; ``ts`` each row's position in
    ``instants``, the distinct timestamps (microseconds, UTC); ``value`` float64."""
    pairs: list[tuple[str, str]]
    pair: pa.Array
    ts: pa.Array
    instants: pa.Array
    value: pa.Array


def rows_start(data: bytes) -> int | None:
    """Where the rows begin if the body starts with the plain header line, else None."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    if not data.startswith(HEADER_LINE, start):
        return None
    start += len(HEADER_LINE)
    for end in (b"\n", b"\r\n"):
        if data.startswith(end, start):
            return start + len(end)
    return None


def blocks(data: bytes, start: int) -> Iterator[Block]:
    """The checked rows of ``data[start:]`` a block at a time; raises ``Unfit``."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        raise Unfit("a carriage return outside CRLF")  # the csv module reads it its own way
    quoted = b'"' in data
    try:
        reader = pcsv.open_csv(
            pa.BufferReader(pa.py_buffer(data).slice(start)),
            read_options=pcsv.ReadOptions(column_names=HEADER, block_size=BLOCK_SIZE),
            parse_options=pcsv.ParseOptions(newlines_in_values=quoted),
            convert_options=pcsv.ConvertOptions(
                column_types={"timestamp": _TEXT, "metric": _TEXT, "value": pa.float64(),
                              "unit": _TEXT},
                null_values=[], quoted_strings_can_be_null=False, strings_can_be_null=False))
        for batch in reader:
            yield _check(batch)
    except (pa.ArrowException, ResultFormatError) as exc:
        raise Unfit(str(exc)) from exc


def _check(batch: pa.RecordBatch) -> Block:
    ts, metric, value, unit = batch.columns
    if batch.num_rows and any(column.null_count for column in batch.columns):
        raise Unfit("a missing field")
    if not pc.all(pc.is_finite(value)).as_py():
        raise Unfit("a value that is not a finite number")

    # Each distinct timestamp once: rows at one instant (every channel) share it.
    texts = ts.dictionary
    if not pc.all(pc.match_substring_regex(texts, TIMESTAMP)).as_py():
        raise Unfit("a timestamp written otherwise")
    instants = pc.cast(texts, UTC_MICROSECONDS)  # raises on an invalid date
    if len(instants):
        # Compared as microseconds since the epoch: a time before year 1 once its offset
        # is applied ("0001-01-01T00:00:00+05:00") has no Python datetime.
        low, high = pc.min_max(instants.cast(pa.int64())).values()
        if low.as_py() < _EARLIEST_US or high.as_py() >= _LATEST_US:
            raise Unfit("a timestamp out of range")

    # Each distinct (metric, unit) pair once, checked by the Python path's own rule.
    names, units = metric.dictionary, unit.dictionary
    if len(names) * len(units) > MAX_PAIRS:
        raise Unfit("too many distinct metrics and units")
    code = pc.add(pc.multiply(metric.indices.cast(pa.int64()), len(units)),
                  unit.indices.cast(pa.int64()))
    pairs: list[tuple[str, str]] = []
    position = [0] * (len(names) * len(units))
    for pair_code in pc.unique(code).to_pylist():
        name, symbol = names[pair_code // len(units)].as_py(), units[pair_code % len(units)].as_py()
        if any(c in text for text in (name, symbol) for c in '"\r\n'):
            raise Unfit("quoting or line breaks inside a field")
        position[pair_code] = len(pairs)
        pairs.append(check_names("", name, symbol))
    return Block(pairs, pc.take(pa.array(position, pa.int32()), code), ts.indices, instants,
                 value)


# PostgreSQL's binary COPY format (its documentation, "COPY", "Binary Format"): a
# signature, then each row as a field count and (length, big-endian value) per field, then
# -1. Each reading is 50 bytes: (trial, metric, ts, value), all 8 bytes wide (bigint,
# bigint, timestamptz as microseconds since 2000-01-01 UTC, float8).
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # no flags, no extension
TRAILER = struct.pack("!h", -1)
_ROW = "!hiqiqiqiq"
_WIDTH = struct.calcsize(_ROW)
_AT = {"metric": 18, "ts": 30, "value": 42}  # where each field's 8 bytes lie in a row
_PG_EPOCH = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970


def copy_input(trial_id: int, metric_ids: list[int], block: Block) -> bytearray:
    """The block's rows for a binary COPY (trial, metric, ts, value), ``metric_ids`` the ids
    of its ``pairs``. Every row is one fixed-width record, so each field is laid into all
    rows at once: its column in big-endian order, a byte at a time with a stride of a row
    (C loops over bytes; a third of the time of Arrow's CSV writer, and PostgreSQL then
    parses no text: the times are the same microseconds Arrow read)."""
    rows = bytearray(struct.pack(_ROW, 4, 8, trial_id, 8, 0, 8, 0, 8, 0)) * len(block.value)
    columns = {
        "metric": pc.take(pa.array(metric_ids, pa.int64()), block.pair),
        "ts": pc.subtract(pc.take(block.instants, block.ts).cast(pa.int64()), _PG_EPOCH),
        "value": block.value,
    }
    for name, column in columns.items():
        words = array.array("q")  # 8 bytes a value, whatever they mean
        words.frombytes(memoryview(column.buffers()[1])[8 * column.offset:
                                                         8 * (column.offset + len(column))])
        if sys.byteorder == "little":
            words.byteswap()
        data = words.tobytes()
        at = _AT[name]
        for k in range(8):
            rows[at + k::_WIDTH] = data[k::8]
    return rows
