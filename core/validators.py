"""Size limits for free text and JSON documents that organisations write and every tenant
then reads (descriptions, specs): large enough for any honest use, small enough that no
one can park megabytes in a page served to everyone."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from django.utils.deconstruct import deconstructible

from .errors import (
    END_BEFORE_START,
    JSON_OBJECT,
    JSON_TOO_DEEP,
    JSON_TOO_LARGE,
    NAIVE_DATETIME,
    RANGE_TOO_LONG,
)
from .parsers import json_depth

# Descriptions of hubs and equipment (plain text, shown in the catalogue).
DESCRIPTION_MAX_LENGTH = 10_000
# A technical data sheet as JSON: bytes of its compact encoding, and nesting.
SPECS_MAX_BYTES = 16 * 1024
SPECS_MAX_DEPTH = 5


@deconstructible
class JSONObjectValidator:
    """A JSON object (not null, a list or a scalar) of at most ``max_bytes`` (compact UTF-8
    encoding) nested at most ``max_depth`` levels."""

    def __init__(self, *, max_bytes: int, max_depth: int):
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def __call__(self, value) -> None:
        if not isinstance(value, dict):
            raise JSON_OBJECT.django()
        if json_depth(value) > self.max_depth:
            raise JSON_TOO_DEEP.django(limit=self.max_depth)
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                              default=str).encode())
        if size > self.max_bytes:
            raise JSON_TOO_LARGE.django(limit=self.max_bytes)

    def __eq__(self, other) -> bool:
        return (isinstance(other, JSONObjectValidator) and self.max_bytes == other.max_bytes
                and self.max_depth == other.max_depth)


validate_specs = JSONObjectValidator(max_bytes=SPECS_MAX_BYTES, max_depth=SPECS_MAX_DEPTH)


def validate_period(start, end, *, max_range: timedelta | None = None,
                    fields: tuple[str, str] = ("start", "end")) -> None:
    """The one check of a period ``[start, end)``, for every door (API, portal, console,
    services): both ends carry a time zone (invariant 5: a naive time is refused, never
    guessed), the end is after the start, and the period is at most ``max_range`` long.
    ``fields`` names the two ends in the caller's input. Raises ValidationFailed."""
    for name, value in zip(fields, (start, end), strict=True):
        if timezone.is_naive(value):
            raise NAIVE_DATETIME.error(field=name)
    if end <= start:
        raise END_BEFORE_START.error(field=fields[1])
    if max_range is not None and end - start > max_range:
        raise RANGE_TOO_LONG.error(field=fields[1], days=max_range.days)
