"""The one CSV writer of the project: every CSV Testbed writes (API and portal downloads,
the CSVs inside data packages, reports) goes through it.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) get a leading ``'``, so a metric, unit or name typed
by one organisation never runs as ``=HYPERLINK(…)`` in another's spreadsheet (OWASP "CSV
injection"). Only text is touched: numbers (negative ones included) are written as
numbers, so pass values as numbers, not as their text.

Downloads (:func:`stream`, :func:`text`, :func:`response`) start with a UTF-8 byte order
mark, so that Excel opens them as UTF-8 (Chinese names and units included) instead of
the system's legacy code page; CSVs read by programs inside data packages
(:func:`writer`) carry none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The byte order mark that tells Excel a CSV file is UTF-8.
BOM = "\ufeff"
CONTENT_TYPE = "text/csv; charset=utf-8"


def neutralise(value: Any) -> Any:
    """``value`` as a cell: None is empty, formula-like text gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


class Writer:
    """``csv.writer`` that neutralises every cell it writes."""

    def __init__(self, file, **options):
        self._writer = csv.writer(file, **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file, **options) -> Writer:
    return Writer(file, **options)


class _Echo:
    """A file that hands back what is written (for streaming responses)."""

    def write(self, value: str) -> str:
        return value


def stream(header: Iterable[Any], rows: Iterable[Iterable[Any]], *, bom: bool = True,
           **options) -> Iterator[str]:
    """CSV lines, one string per row, header first (after the BOM): the body of a
    StreamingHttpResponse."""
    out = Writer(_Echo(), **options)
    yield (BOM if bom else "") + out.writerow(header)
    for row in rows:
        yield out.writerow(row)


def text(header: Iterable[Any], rows: Iterable[Iterable[Any]], *, bom: bool = True,
         **options) -> str:
    """The whole CSV as one string (starting with the BOM)."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    out = Writer(buffer, **options)
    out.writerow(header)
    out.writerows(rows)
    return buffer.getvalue()


def response(header: Iterable[Any], rows: Iterable[Iterable[Any]], filename: str,
             **options) -> StreamingHttpResponse:
    """A CSV download: streamed, ``text/csv; charset=utf-8``, BOM first, as an attachment
    named ``filename``."""
    result = StreamingHttpResponse(stream(header, rows, **options), content_type=CONTENT_TYPE)
    result["Content-Disposition"] = f'attachment; filename="{filename}"'
    return result
