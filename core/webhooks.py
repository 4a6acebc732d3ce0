"""Standard Webhooks (https://www.standardwebhooks.com/): secrets, signing, delivery.

One implementation for every outgoing webhook (dataset releases to universities, booking
and trial events to operators). The message id is chosen by the caller and kept for every
retry of the same message, so receivers can drop duplicates.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.core.serializers.json import DjangoJSONEncoder
from standardwebhooks import Webhook

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
    ok: bool
    status_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int


def deliver(*, url: str, secret: str, msg_id: str, event_type: str, data: dict,
            timeout: float = 10.0) -> Delivery:
    """POST one signed message. Never raises for network trouble: the result says."""
    body = encode({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data})
    started = time.monotonic()
    try:
        response = requests.post(url, data=body.encode(), timeout=timeout,
                                 headers=signed_headers(secret=secret, msg_id=msg_id, body=body),
                                 allow_redirects=False)
        excerpt = response.text[:500]
        ok = 200 <= response.status_code < 300
        return Delivery(ok, response.status_code, excerpt,
                        "" if ok else f"HTTP {response.status_code}",
                        int((time.monotonic() - started) * 1000))
    except requests.RequestException as exc:
        return Delivery(False, None, "", f"{exc.__class__.__name__}: {str(exc)[:300]}",
                        int((time.monotonic() - started) * 1000))
