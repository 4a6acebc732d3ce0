"""DRF renderers shared by every app's API."""

from __future__ import annotations

import json

from rest_framework import renderers


class CSVRenderer(renderers.BaseRenderer):
    """Lets ``?format=csv`` (or ``Accept: text/csv``) through content negotiation; the view
    builds the CSV itself and returns it as a plain response. Anything else that reaches
    this renderer (an error's problem document) is written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""
