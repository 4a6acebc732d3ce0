"""Standard Webhooks (https://www.standardwebhooks.com/): secrets, signing, delivery.

One implementation for every outgoing webhook (dataset releases to universities, booking
and trial events to operators). The message id is chosen by the caller and kept for every
retry of the same message, so receivers can drop duplicates.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext, gettext_noop, ngettext
from standardwebhooks import Webhook

from . import outbound

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "Testbed-Webhooks/1.0"


def new_secret() -> str:
    """A fresh ``whsec_…`` signing secret (24 random bytes, base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(16)}"


def encode(payload: dict) -> str:
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)


def signed_headers(*, secret: str, msg_id: str, body: str,
                   at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


@dataclass(frozen=True)
class Delivery:
    """One attempt's result. ``error`` is our own short text (it may reach the tenant
    whose endpoint it is): never the remote's words nor the exception text, which go to
    the log. ``response_excerpt`` is the receiver's answer, for staff only."""

    ok: bool
    status_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int


# Delivery errors, "<code>: <our words>", stable so that tests, the admin and the API read
# the same thing (a failed HTTP answer is "HTTP <status>"); pages show them in their
# reader's language (``error_shown``).
_ERROR_WORDS = {
    "outbound_refused": gettext_noop("the destination is not allowed"),
    "timeout": gettext_noop("the receiver did not answer in time"),
    "connect_failed": gettext_noop("could not connect to the receiver"),
    "tls_failed": gettext_noop("TLS handshake or certificate verification failed"),
    "request_failed": gettext_noop("the request could not be sent"),
}
ERROR_REFUSED = f"outbound_refused: {_ERROR_WORDS['outbound_refused']}"
ERROR_TIMEOUT = f"timeout: {_ERROR_WORDS['timeout']}"
ERROR_CONNECT = f"connect_failed: {_ERROR_WORDS['connect_failed']}"
ERROR_TLS = f"tls_failed: {_ERROR_WORDS['tls_failed']}"
ERROR_REQUEST = f"request_failed: {_ERROR_WORDS['request_failed']}"
_HTTP_STATUS = re.compile(r"HTTP (\d{3})")
# Why the outbox gave a message up (``last_error`` of a cancelled one).
ENDPOINT_DISABLED = gettext_noop("endpoint disabled")
ENDPOINT_GONE = gettext_noop("endpoint disabled or removed")


# Why an endpoint was disabled (``disabled_reason``), as recorded, and as pages show it.
DISABLED_AFTER = "%(count)d deliveries in a row failed"
_DISABLED_AFTER = re.compile(re.escape(DISABLED_AFTER).replace(re.escape("%(count)d"),
                                                              r"(\d+)"))


def disabled_reason(failures: int) -> str:
    return DISABLED_AFTER % {"count": failures}


def disabled_reason_shown(text: str) -> str:
    """An endpoint's recorded ``disabled_reason`` in the active language."""
    if found := _DISABLED_AFTER.fullmatch(text):
        count = int(found.group(1))
        return ngettext("%(counter)s failed delivery in a row.",
                        "%(counter)s failed deliveries in a row.", count) % {"counter": count}
    return text


def error_shown(text: str) -> str:
    """A delivery's recorded error as a page shows it, in the active language: the code
    with our words translated (an HTTP status, a cancelled message's reason too);
    anything else as recorded."""
    code, _sep, words = text.partition(": ")
    if _ERROR_WORDS.get(code) == words:
        return f"{code}: {gettext(words)}"
    if status := _HTTP_STATUS.fullmatch(text):
        return gettext("HTTP %(status)s: the receiver did not accept it") % {
            "status": status.group(1)}
    if text in (ENDPOINT_DISABLED, ENDPOINT_GONE):
        return gettext(text)
    return text


EXCERPT_BYTES = 2048
EXCERPT_CHARS = 500


def _excerpt(response, *, deadline: float) -> str:
    """The start of the receiver's answer: at most ``EXCERPT_BYTES``, read while time is
    left before ``deadline`` — an endless or trickling body never holds a worker."""
    received = bytearray()
    while len(received) < EXCERPT_BYTES and time.monotonic() < deadline:
        chunk = response.raw.read1(EXCERPT_BYTES - len(received))
        if not chunk:
            break
        received += chunk
    return bytes(received).decode(response.encoding or "utf-8", "replace")[:EXCERPT_CHARS]


def deliver(*, url: str, secret: str, msg_id: str, event_type: str, data: dict,
            timeout: float = 10.0, hub=None) -> Delivery:
    """POST one signed message through the outbound guard (``hub``: whose allowed
    networks apply, e.g. the agreement's hub). Never raises for network trouble or a
    refused destination: the result says. Redirects are not followed (a 3xx fails)."""
    body = encode({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data})
    started = time.monotonic()

    def failed(error: str, status_code: int | None = None, excerpt: str = "") -> Delivery:
        return Delivery(False, status_code, excerpt, error,
                        int((time.monotonic() - started) * 1000))

    try:
        with outbound.request("POST", url, hub=hub, data=body.encode(), timeout=timeout,
                              stream=True, headers=signed_headers(
                                  secret=secret, msg_id=msg_id, body=body)) as response:
            excerpt = _excerpt(response, deadline=started + timeout)
            ok = 200 <= response.status_code < 300
            return Delivery(ok, response.status_code, excerpt,
                            "" if ok else f"HTTP {response.status_code}",
                            int((time.monotonic() - started) * 1000))
    except outbound.OutboundRefused:
        return failed(ERROR_REFUSED)  # the guard has logged the detail
    except requests.Timeout as exc:
        logger.warning("Webhook %s to %s: %s", msg_id, url, exc)
        return failed(ERROR_TIMEOUT)
    except requests.exceptions.SSLError as exc:
        logger.warning("Webhook %s to %s: %s", msg_id, url, exc)
        return failed(ERROR_TLS)
    except requests.ConnectionError as exc:
        logger.warning("Webhook %s to %s: %s", msg_id, url, exc)
        return failed(ERROR_CONNECT)
    except requests.RequestException as exc:
        logger.warning("Webhook %s to %s: %s", msg_id, url, exc)
        return failed(ERROR_REQUEST)
