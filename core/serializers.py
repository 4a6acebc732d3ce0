"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset; a naive time is an error, never guessed
    (invariant 5: the API rejects naive times)."""

    default_error_messages = {
        "naive": "Give the time zone offset, e.g. 2026-12-01T09:00:00+08:00.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.utcoffset() is None:
                self.fail("naive")
        return super().to_internal_value(value)


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: AwareDateTimeField,
    }
