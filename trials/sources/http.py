"""HTTP pull: ``GET <url>?start=<ISO 8601>&end=<ISO 8601>``, optional bearer secret.

Through the outbound guard (``core.outbound``: the address checked again now, under the
hub's allowed networks, and the connection pinned to it; redirects not followed).
Bounded in every direction: connect and read timeouts, a total deadline, and a size
limit enforced while streaming (a huge or endless body is cut off, not buffered).
Error messages are our own words (the trial's operator and SME read them): never the
gateway's answer or an exception's text, which go to the log."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from core import outbound

from . import Payload, SourceError, TransientSourceError, max_bytes

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024


def fetch(equipment, start: datetime, end: datetime) -> Payload:
    timeout = settings.TRIAL_SOURCE_TIMEOUT
    limit = max_bytes()
    headers = {"Accept": "text/csv, application/json"}
    if equipment.result_source_secret:
        headers["Authorization"] = f"Bearer {equipment.result_source_secret}"
    params = {"start": start.isoformat(), "end": end.isoformat()}
    deadline = time.monotonic() + timeout * 4
    url = equipment.result_source_url
    try:
        with outbound.request("GET", url, hub=equipment.hub, params=params, headers=headers,
                              timeout=(min(timeout, 10), timeout), stream=True) as response:
            if response.status_code >= 500:
                raise TransientSourceError(_("The gateway answered HTTP %(status)d.")
                                           % {"status": response.status_code})
            if response.status_code != 200:
                raise SourceError(_("The gateway answered HTTP %(status)d; expected 200 with "
                                    "CSV or JSON.") % {"status": response.status_code})
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise SourceError(_("The gateway's answer is %(size)d bytes; the limit is "
                                    "%(limit)d.") % {"size": int(declared), "limit": limit})
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise SourceError(_("The gateway's answer exceeds the limit of %(limit)d "
                                        "bytes.") % {"limit": limit})
                if time.monotonic() > deadline:
                    raise TransientSourceError(_("The gateway took too long to send its "
                                                 "answer."))
            return Payload(bytes(body), response.headers.get("Content-Type", ""))
    except outbound.OutboundRefused as exc:
        raise SourceError(_("The gateway's address is not allowed for outbound requests "
                            "(outbound_refused).")) from exc
    except requests.Timeout as exc:
        logger.warning("Gateway %s of equipment %s: %s", url, equipment.pk, exc)
        raise TransientSourceError(_("The gateway did not answer in time (%(timeout)s s).")
                                   % {"timeout": timeout}) from exc
    except requests.ConnectionError as exc:
        logger.warning("Gateway %s of equipment %s: %s", url, equipment.pk, exc)
        raise TransientSourceError(_("Could not connect to the gateway.")) from exc
    except requests.RequestException as exc:
        logger.warning("Gateway %s of equipment %s: %s", url, equipment.pk, exc)
        raise SourceError(_("The request to the gateway failed.")) from exc
