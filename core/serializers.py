"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import models
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset; a naive time is an error, never guessed
    (invariant 5: the API rejects naive times)."""

    default_error_messages = {
        "naive": _("Give the time zone offset, e.g. 2026-12-01T09:00:00+08:00."),
        "out_of_range": _("Give a time between 1970 and 2999."),
    }
    # Anything outside is a typo or a probe, and breaks time-zone arithmetic: local mean
    # time offsets in seconds before 1901, overflow near the year 9999.
    EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
    LATEST = datetime(3000, 1, 1, tzinfo=UTC)

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.utcoffset() is None:
                self.fail("naive")
        result = super().to_internal_value(value)
        if result.tzinfo is not None and not self.EARLIEST <= result < self.LATEST:
            self.fail("out_of_range")
        return result


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: AwareDateTimeField,
    }
