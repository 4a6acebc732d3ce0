"""DRF parsers for every API view: as DRF's, with three refusals that keep hostile bodies
a 4xx instead of a 500 or a memory spike:

- a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (small: see settings) is refused
  (413) before it is read (DRF reads JSON and form bodies through ``request.body``, which
  checks it; the parsers check it again for any other stream they are given);
- JSON nested deeper than ``MAX_JSON_DEPTH`` is refused (400), in a JSON body and in form
  or multipart fields that carry JSON text: no request needs more, and ``"[" * 5000``
  would otherwise end in a RecursionError;
- text carrying a NUL character (0x00) is refused (400): no legitimate input contains one,
  and PostgreSQL cannot store it (an unchecked one would surface as a database error).

Multipart file parts are not counted against the limit (Django streams them to disk);
an endpoint that takes a raw body larger than the default reads it with ``read_body``
and its own explicit limit.
"""

from __future__ import annotations

from json import JSONDecodeError

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding
from rest_framework.utils import json

NUL = "\x00"
NUL_MESSAGE = _("Text may not contain NUL (0x00) characters.")
# Deep enough for every document the API takes (specs, opening hours, result JSON).
MAX_JSON_DEPTH = 32
DEPTH_MESSAGE = _("The JSON document is nested too deeply (at most %(depth)d levels).")
TOO_BIG_MESSAGE = _("The request body is larger than this service accepts.")
NOT_JSON_MESSAGE = _("The request body is not valid JSON.")
NOT_JSON_AT_MESSAGE = _("The request body is not valid JSON (line %(line)d, column %(column)d).")


def has_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def json_depth(value) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def json_text_depth(text: str) -> int:
    """How deeply a JSON text nests ``[`` and ``{`` (brackets inside strings not counted),
    without parsing it: form and multipart fields carry JSON as text that the serializer
    parses later, where ``"[" * 5000`` would end in a RecursionError."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_form_json_depth(fields) -> None:
    """ParseError (400) for a form value that is JSON nested deeper than the limit."""
    for values in fields.values():
        for value in values:
            if (isinstance(value, str) and value.lstrip()[:1] in ("[", "{")
                    and json_text_depth(value) > MAX_JSON_DEPTH):
                raise ParseError(DEPTH_MESSAGE % {"depth": MAX_JSON_DEPTH}, code="too_deep")


def check_json_depth(value, *, limit: int = MAX_JSON_DEPTH) -> None:
    """ParseError (400) when ``value`` nests deeper than ``limit``."""
    if json_depth(value) > limit:
        raise ParseError(DEPTH_MESSAGE % {"depth": limit}, code="too_deep")


def _bounded_read(read, meta, limit: int | None) -> bytes:
    """``read(n)`` at most ``limit`` bytes (None: no limit). A declared ``Content-Length``
    (in ``meta``) beyond the limit is refused before anything is read; a body longer than
    it says is cut off at ``limit + 1`` bytes and refused too."""
    if limit is None:
        return read()
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestDataTooBig(TOO_BIG_MESSAGE)
    data = read(limit + 1)
    if len(data) > limit:
        raise RequestDataTooBig(TOO_BIG_MESSAGE)
    return data


def read_body(request, *, limit: int | None) -> bytes:
    """The raw body of a Django or DRF request, at most ``limit`` bytes (None: no limit).
    Raises ``RequestDataTooBig`` (the API answers 413 problem+json)."""
    django_request = getattr(request, "_request", request)
    if hasattr(django_request, "_body"):  # already read (and bounded) by Django
        if limit is not None and len(django_request._body) > limit:
            raise RequestDataTooBig(TOO_BIG_MESSAGE)
        return django_request._body
    return _bounded_read(django_request.read, django_request.META, limit)


def _read_stream(stream, parser_context) -> bytes:
    """A parser's stream, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes."""
    request = (parser_context or {}).get("request")
    return _bounded_read(stream.read, request.META if request is not None else {},
                         settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = _read_stream(stream, parser_context)
        encoding = get_encoding(parser_context or {})
        try:
            text = raw.decode(encoding)
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise ParseError(DEPTH_MESSAGE % {"depth": MAX_JSON_DEPTH}, code="too_deep") from None
        except JSONDecodeError as exc:
            raise ParseError(NOT_JSON_AT_MESSAGE % {"line": exc.lineno, "column": exc.colno},
                             code="not_json") from None
        except ValueError:  # undecodable bytes, or a constant strict JSON refuses (NaN)
            raise ParseError(NOT_JSON_MESSAGE, code="not_json") from None
        check_json_depth(data)
        if has_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        data = QueryDict(_read_stream(stream, parser_context), encoding=encoding)
        fields = dict(data.lists())
        if has_nul(fields):
            raise ParseError(NUL_MESSAGE)
        _check_form_json_depth(fields)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """File contents are left alone; field names, values and file names are checked.
    Django's multipart parser counts field data (not files) against
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` itself."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        names = [(key, upload.name) for key, upload in result.files.items()]
        fields = dict(result.data.lists())
        if has_nul(fields) or has_nul(names):
            raise ParseError(NUL_MESSAGE)
        _check_form_json_depth(fields)
        return result
