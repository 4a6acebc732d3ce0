"""Portal glue: a service's refusal shown on the form that asked for the change, and the
hub's wall-clock date-time field every portal and console form uses."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import date, datetime

from django import forms
from django.utils.translation import gettext_lazy

from .errors import DomainError, ValidationFailed, Violation
from .parsers import DEPTH_MESSAGE, MAX_JSON_DEPTH, NUL_MESSAGE, has_nul, json_text_depth
from .serializers import AwareDateTimeField

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
LOCAL_FORMATS = [LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


def parse_local(value: str | None) -> datetime | None:
    """A naive wall-clock time from a query parameter in one of ``LOCAL_FORMATS`` (a form's
    initial value), or None when it is missing or not one."""
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(value or "", fmt)
        except ValueError:
            continue
    return None


class LocalDateTimeInput(forms.DateTimeInput):
    """``<input type=datetime-local>``: a wall-clock time, read in the active time zone
    (the view activates the hub's)."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=LOCAL_INPUT)


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time of the hub (``datetime-local``) between 1970 and 2999, as every
    time the API takes: year 9999 or 0001 is a form error, not an overflow further on."""

    default_error_messages = {
        "out_of_range": gettext_lazy("Give a date between 1970 and 2999."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", LOCAL_FORMATS)
        kwargs.setdefault("widget", LocalDateTimeInput())
        super().__init__(**kwargs)

    def bound_data(self, data, initial):
        """What the input shows after a submission: the time it was read as, in the input's
        own format (``2026-12-07`` in a URL is that day's 00:00, ``2026-12-07T00:00``: a
        ``datetime-local`` input shows nothing for a value not in its format); what cannot
        be read is shown as typed, next to its error."""
        if isinstance(data, str) and data.strip():
            try:
                return self.to_python(data)
            except forms.ValidationError:
                return data
        return super().bound_data(data, initial)

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        try:
            in_range = AwareDateTimeField.EARLIEST <= result < AwareDateTimeField.LATEST
        except (OverflowError, ValueError):
            in_range = False
        if not in_range:
            raise forms.ValidationError(self.error_messages["out_of_range"],
                                        code="out_of_range")
        return result


def add_errors(form: forms.Form, refusal: DomainError | list[Violation], *,
               rename: dict[str, str] | None = None) -> None:
    """Put a refusal on ``form``: each violation next to its field (``rename`` maps the
    service's field names to the form's; a field the form lacks goes to the top), any other
    domain error at the top. The messages are the errors' own (the catalogue's, translated
    where they were raised)."""
    if isinstance(refusal, DomainError) and not isinstance(refusal, ValidationFailed):
        form.add_error(None, refusal.message)
        return
    violations = refusal.violations if isinstance(refusal, ValidationFailed) else refusal
    rename = rename or {}
    for violation in violations:
        field = rename.get(violation.field, violation.field)
        form.add_error(field if field in form.fields else None, violation.message)


def in_range(day: date) -> bool:
    """Is ``day`` within the years every door takes (1970–2999)?"""
    return AwareDateTimeField.EARLIEST.date() <= day < AwareDateTimeField.LATEST.date()


def parse_month(value: str | None) -> date | None:
    """``YYYY-MM`` (years 1970–2999, as every time the API takes) as its first day; None
    for anything else."""
    if not value or not re.match(MONTH_PATTERN, str(value)):
        return None
    year, month = (int(part) for part in str(value).split("-"))
    try:
        day = date(year, month, 1)
    except ValueError:  # year 0 matches the pattern but is no date
        return None
    return day if in_range(day) else None


class DayField(forms.DateField):
    """A calendar day between 1970 and 2999: year 9999 is a form error, not an overflow
    when the day is turned into a time."""

    default_error_messages = {
        "out_of_range": gettext_lazy("Give a date between 1970 and 2999."),
    }

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not in_range(result):
            raise forms.ValidationError(self.error_messages["out_of_range"],
                                        code="out_of_range")
        return result


class MonthField(DayField):
    """A calendar month (``YYYY-MM``, ``<input type=month>``) between 1970 and 2999, as its
    first day."""

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["%Y-%m"])
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "month"}, format="%Y-%m"))
        super().__init__(**kwargs)


class _FiniteJSONDecoder(json.JSONDecoder):
    """JSON as the API's parser takes it: NaN, Infinity and numbers too large for a double
    (1e999) are not JSON values a document may hold (PostgreSQL's jsonb refuses them)."""

    def __init__(self, **kwargs):
        super().__init__(parse_constant=self._refuse, parse_float=self._finite, **kwargs)

    @staticmethod
    def _refuse(name: str):
        raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)

    @staticmethod
    def _finite(text: str) -> float:
        number = float(text)
        if math.isinf(number):
            raise json.JSONDecodeError(f"{text} is too large", text, 0)
        return number


class JSONDocumentField(forms.JSONField):
    """A JSON document typed into a form (the admin console, the operators' console), with
    the API parser's refusals as field errors instead of a server error: nesting deeper
    than ``MAX_JSON_DEPTH`` (``"[" * 5000`` would end in a RecursionError), NaN or
    Infinity, integers longer than Python reads, and NUL characters. An empty box of an
    optional field is its default (the model's: ``{}`` or ``[]``), not null; a required
    one stays required."""

    def __init__(self, **kwargs):
        if kwargs.get("decoder") is None:  # a model's JSONField passes decoder=None
            kwargs["decoder"] = _FiniteJSONDecoder
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            if self.required:
                return None  # "This field is required.", not the default put in its place
            return self.initial() if callable(self.initial) else copy.deepcopy(self.initial)
        if isinstance(value, str) and json_text_depth(value) > MAX_JSON_DEPTH:
            raise forms.ValidationError(DEPTH_MESSAGE, code="too_deep",
                                        params={"depth": MAX_JSON_DEPTH})
        try:
            document = super().to_python(value)
        except ValueError:  # e.g. an integer of more than 4,300 digits (not a JSONDecodeError)
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid",
                                        params={"value": value}) from None
        if has_nul(document):
            raise forms.ValidationError(NUL_MESSAGE, code="nul")
        return document

    def bound_data(self, data, initial):
        # The form shown again with its error keeps the text as typed (Django would parse
        # it once more, and a deep one would end in a RecursionError).
        if isinstance(data, str) and json_text_depth(data) > MAX_JSON_DEPTH:
            return forms.fields.InvalidJSONInput(data)
        try:
            return super().bound_data(data, initial)
        except ValueError:
            return forms.fields.InvalidJSONInput(data)
