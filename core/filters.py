"""django-filter building blocks shared by every app's API."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

from .serializers import AwareDateTimeField


class _BoundedIsoDateTimeField(IsoDateTimeField):
    default_error_messages = {
        "naive": AwareDateTimeField.default_error_messages["naive"],
        "out_of_range": AwareDateTimeField.default_error_messages["out_of_range"],
    }

    def to_python(self, value):
        # Django would read a naive time in the server's zone; invariant 5 says the API never
        # guesses: a time without an offset is refused.
        if isinstance(value, str) and value.strip():
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # not a valid date: the parent says so
            if parsed is not None and parsed.utcoffset() is None:
                raise forms.ValidationError(self.error_messages["naive"], code="naive")
        result = super().to_python(value)
        if result is None:
            return None
        if not AwareDateTimeField.EARLIEST <= result < AwareDateTimeField.LATEST:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return result.astimezone(UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time with an offset (a naive one is a 400, invariant 5), between 1970
    and 2999, handed to the database in UTC: PostgreSQL refuses offsets beyond ±15:59 that
    ISO 8601 allows, and far dates overflow."""

    field_class = _BoundedIsoDateTimeField


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number that fits a bigint (anything else is a 400, not a
    database overflow)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
