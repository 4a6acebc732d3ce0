"""Path converters shared by the apps' URL patterns."""

from __future__ import annotations

from django.urls import register_converter


class TokenConverter:
    """A secret token or a key prefix in a URL (URL-safe base64 letters, as
    ``secrets.token_urlsafe`` and the API keys' prefixes make them). Anything else is
    "not found" before any lookup: a NUL character, say, would otherwise reach PostgreSQL,
    which cannot compare text holding one."""

    regex = r"[A-Za-z0-9_-]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")
