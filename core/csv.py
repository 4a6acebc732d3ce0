"""The one CSV writer of the project: every CSV Testbed writes (API and portal downloads,
the CSVs inside data packages, reports) goes through it.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) get a leading ``'``, so a metric, unit or name typed
by one organisation never runs as ``=HYPERLINK(…)`` in another's spreadsheet (OWASP "CSV
injection"). Only text is touched: numbers (negative ones included) are written as
numbers, so pass values as numbers, not as their text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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


def stream(header: Iterable[Any], rows: Iterable[Iterable[Any]], **options) -> Iterator[str]:
    """CSV lines, one string per row, header first: the body of a StreamingHttpResponse."""
    out = Writer(_Echo(), **options)
    yield out.writerow(header)
    for row in rows:
        yield out.writerow(row)


def text(header: Iterable[Any], rows: Iterable[Iterable[Any]], **options) -> str:
    """The whole CSV as one string."""
    buffer = io.StringIO()
    out = Writer(buffer, **options)
    out.writerow(header)
    out.writerows(rows)
    return buffer.getvalue()
