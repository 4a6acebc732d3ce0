"""HTTP pull: ``GET <url>?start=<ISO 8601>&end=<ISO 8601>``, optional bearer secret.

Bounded in every direction: connect and read timeouts, a total deadline, and a size
limit enforced while streaming (a huge or endless body is cut off, not buffered)."""

from __future__ import annotations

import time
from datetime import datetime

import requests
from django.conf import settings

from . import Payload, SourceError, TransientSourceError, max_bytes

CHUNK = 64 * 1024


def fetch(equipment, start: datetime, end: datetime) -> Payload:
    timeout = getattr(settings, "TRIAL_SOURCE_TIMEOUT", 30)
    limit = max_bytes()
    headers = {"Accept": "text/csv, application/json"}
    if equipment.result_source_secret:
        headers["Authorization"] = f"Bearer {equipment.result_source_secret}"
    params = {"start": start.isoformat(), "end": end.isoformat()}
    deadline = time.monotonic() + timeout * 4
    try:
        with requests.get(equipment.result_source_url, params=params, headers=headers,
                          timeout=(min(timeout, 10), timeout), stream=True,
                          allow_redirects=False) as response:
            if response.status_code >= 500:
                raise TransientSourceError(f"The gateway answered HTTP {response.status_code}.")
            if response.status_code != 200:
                raise SourceError(f"The gateway answered HTTP {response.status_code}; "
                                  "expected 200 with CSV or JSON.")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise SourceError(f"The gateway's answer is {int(declared)} bytes; "
                                  f"the limit is {limit}.")
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise SourceError(f"The gateway's answer exceeds the limit of {limit} bytes.")
                if time.monotonic() > deadline:
                    raise TransientSourceError("The gateway took too long to send its answer.")
            return Payload(bytes(body), response.headers.get("Content-Type", ""))
    except requests.Timeout as exc:
        raise TransientSourceError(f"The gateway did not answer in time ({timeout} s).") from exc
    except requests.ConnectionError as exc:
        raise TransientSourceError(f"Could not connect to the gateway: "
                                   f"{exc.__class__.__name__}.") from exc
    except requests.RequestException as exc:
        raise SourceError(f"The request to the gateway failed: {exc.__class__.__name__}.") from exc
