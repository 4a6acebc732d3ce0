"""API keys: stored hashed, verified in constant time, throttled per key; and no secret
(API key, signing secret, webhook secret, calendar token) ever reaches a log record."""

from __future__ import annotations

import hashlib
import logging

import pytest
import rest_framework_api_key.crypto as api_key_crypto
from django.utils import crypto
from rest_framework_api_key.crypto import Sha512ApiKeyHasher

from organizations.auth import ApiKeyRateThrottle
from organizations.models import OrganizationAPIKey
from organizations.services import create_api_key

from .conftest import DEAD_END

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def test_keys_are_stored_hashed(world):
    api_key, secret = create_api_key(organization=world.a.sme, name="erp")
    prefix, _, secret_part = secret.partition(".")
    row = OrganizationAPIKey.objects.get(pk=api_key.pk)
    assert row.prefix == prefix
    assert row.hashed_key == "sha512$$" + hashlib.sha512(secret.encode()).hexdigest()
    for stored in (row.pk, row.hashed_key, row.name):  # the id is prefix + hash
        assert secret_part not in stored
    hasher = OrganizationAPIKey.objects.key_generator.preferred_hasher
    assert isinstance(hasher, Sha512ApiKeyHasher)
    assert row.is_valid(secret) and not row.is_valid(f"{prefix}.{'x' * len(secret_part)}")


def test_keys_are_compared_in_constant_time(world, monkeypatch):
    """Every verification, right or wrong, goes through Django's constant-time compare."""
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return crypto.constant_time_compare(a, b)

    monkeypatch.setattr(api_key_crypto, "constant_time_compare", spy)
    _, secret = create_api_key(organization=world.a.sme, name="erp")
    prefix = secret.partition(".")[0]
    client = world.client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/hubs/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}.wrong-secret")
    assert client.get("/api/v1/hubs/").status_code == 401
    assert len(calls) == 2
    assert all(a.startswith("sha512$$") and b.startswith("sha512$$") for a, b in calls)


def test_throttling_is_per_key(world, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    busy = world.client("sme")
    other = world.client("flagship")
    for _ in range(3):
        assert busy.get("/api/v1/hubs/").status_code == 200
    response = busy.get("/api/v1/hubs/")
    assert response.status_code == 429
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 429
    assert 0 < int(response["Retry-After"]) <= 60
    # Another key of another organisation is unaffected …
    assert other.get("/api/v1/hubs/").status_code == 200
    # … and so is a second key of the same organisation: the limit is per key.
    _, second = create_api_key(organization=world.a.sme, name="second")
    fresh = world.client(None)
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert fresh.get("/api/v1/hubs/").status_code == 200


@pytest.fixture
def every_log_record(caplog):
    """caplog at DEBUG on every logger there is (the root and each named one)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _logged_text(records) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(str(v) for v in record.__dict__.values())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_no_secret_reaches_the_logs(world, every_log_record, django_capture_on_commit_callbacks):
    secrets = []
    _, key = create_api_key(organization=world.a.operator, name="mes")
    secrets.append(key.partition(".")[2])
    operator = world.client(None)
    operator.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post("/api/v1/agreements/", {
            "university": world.a.university.slug, "hub": world.a.hub.slug,
            "categories": ["cnc"], "endpoint_url": DEAD_END,
            "valid_from": world.now.isoformat()}, format="json")
        assert response.status_code == 201
        secrets.append(response.json()["signing_secret"])
        response = operator.post("/api/v1/webhooks/", {"url": DEAD_END,
                                                       "event_types": ["booking.*"]},
                                 format="json")
        assert response.status_code == 201
        secrets.append(response.json()["secret"])
        # Events that go out signed with those secrets (delivery fails: nobody listens).
        response = operator.post(f"/api/v1/bookings/{world.a.requested.pk}/approve/", {},
                                 format="json")
        assert response.status_code == 200
        response = operator.post("/api/v1/calendar-feeds/", {"name": "shop floor"},
                                 format="json")
        assert response.status_code == 201
        token = response.json()["url"].rsplit("/", 1)[1].removesuffix(".ics")
        secrets.append(token)
        assert world.client(None).get(f"/calendar/{token}.ics").status_code == 200
        # A wrong key: the refusal is logged, the key is not.
        bad = world.client(None)
        bad.credentials(HTTP_AUTHORIZATION=f"Bearer {key}x")
        assert bad.get("/api/v1/hubs/").status_code == 401

    records = every_log_record.records
    assert any(r.name == "testbed.request" for r in records)  # the capture works
    text = _logged_text(records)
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    assert any("/calendar/[redacted].ics" in r.getMessage() for r in records)
