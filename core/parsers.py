"""DRF parsers for every API view: as DRF's, but text carrying a NUL character (0x00) is
refused with a 400. No legitimate input contains one, and PostgreSQL cannot store it (an
unchecked one would surface as a database error, i.e. a 500)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

NUL = "\x00"
NUL_MESSAGE = "Text may not contain NUL (0x00) characters."


def has_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if has_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if has_nul(dict(data.lists())):
            raise ParseError(NUL_MESSAGE)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """File contents are left alone; field names, values and file names are checked."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        names = [(key, upload.name) for key, upload in result.files.items()]
        if has_nul(dict(result.data.lists())) or has_nul(names):
            raise ParseError(NUL_MESSAGE)
        return result
