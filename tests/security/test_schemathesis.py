"""Schemathesis against the app's own OpenAPI schema, with each organisation kind's key.

The schema is read from ``/api/schema/`` and every operation is fuzzed in-process through
the WSGI application, on a real (transactional) database holding the world of
``conftest.py``. Path parameters are half the time the ids of real objects (the caller's
own and another organisation's), so detail routes are exercised beyond 404. Checks:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``status_code_conformance``: every status is documented for its operation;
- ``content_type_conformance``: the response's media type is documented for its status;
- ``response_schema_conformance``: the body matches the documented schema (success
  bodies and problem+json errors alike).

Left out, and why: ``negative_data_rejection`` / ``positive_data_acceptance`` (the
generator's idea of valid input cannot know the domain rules: a well-formed booking for
a taken slot is rightly 409; a random id is rightly 404); ``use_after_free`` and
``ensure_resource_availability`` (stateful phase; not run here to stay bounded);
``ignored_auth`` (the permission matrix checks every route without a key);
``max_response_time`` (timing belongs to the load test). Generation is bounded: few
examples per operation (``FUZZ_EXAMPLES``), no shrinking, no coverage or stateful phase,
derandomized (unless ``FUZZ_RANDOM=1``), no example database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# schemathesis imports its OpenAPI loader lazily, on the first from_dict: imported here, at
# collection, its modules are parsed (and assertion-rewritten) before any test runs.
# Parsing one after another test has hit a RecursionError (a hostile deeply nested body)
# failed once on this CPython 3.11.7 with "AST constructor recursion depth mismatch".
from schemathesis.specs.openapi.schemas import OpenApiSchema  # noqa: F401

from equipment.models import Equipment
from trials.models import Observation, SourceGap

from .conftest import KINDS, World, build_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Per operation and generation mode (positive and negative). CI keeps the run short and
# derandomized; FUZZ_EXAMPLES=200 FUZZ_RANDOM=1 explores further on a developer's machine.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") != "1"


def with_source_data(world: World) -> None:
    """A source "test connection" reaches (the built-in demo gateway, on A's second
    machine) and raw readings with a gap in A's checked-in booking: the fuzzer gets the
    200s of the test and of the live view, not only their 404s and 409s."""
    Equipment.objects.filter(pk=world.a.approval_equipment.pk).update(
        result_source_kind="demo")
    booking = world.a.checked_in
    Observation.objects.bulk_create(
        Observation(equipment_id=booking.equipment_id, ts=booking.start + timedelta(minutes=i),
                    metric=metric, value=50.0 + i, unit=unit)
        for i in range(10) for metric, unit in (("spindle_load", "%"), ("state", "")))
    SourceGap.objects.create(equipment_id=booking.equipment_id,
                             start=booking.start + timedelta(minutes=3),
                             end=booking.start + timedelta(minutes=4), reason="disconnected")


def real_ids(world: World) -> dict[str, list]:
    """Path parameter values of real objects, by the collection the path starts with."""
    a, b = world.a, world.b
    bookings = [s.pk for side in (a, b) for s in (side.requested, side.confirmed, side.due,
                                                    side.checked_in, side.completed)]
    return {
        "hubs": [a.hub.slug, b.hub.slug],
        "equipment": [a.equipment.pk, a.approval_equipment.pk, b.equipment.pk],
        "maintenance-windows": [a.window.pk, b.window.pk],
        "bookings": bookings,
        "trials": [a.trial.pk, a.checked_in.pk, b.trial.pk],
        "agreements": [a.agreement.pk, b.agreement.pk],
        "datasets": [a.release.pk, b.release.pk],
        "webhooks": [a.webhook.pk, b.webhook.pk],
        "calendar-feeds": [f.pk for side in (a, b) for f in side.feeds.values()],
        "consents": [a.consent.pk, b.consent.pk],
    }


# Schemathesis draws each example's body media type at random among those an operation
# accepts, so a derandomized run can leave one out. Besides the run over every media type,
# multipart bodies are fuzzed on their own: the schema is narrowed to multipart on every
# operation that accepts it, and only those operations are run.
BODY_MEDIA = ["any", "multipart/form-data"]


def narrowed(raw: dict, media: str) -> dict:
    """The schema with only the operations that take ``media`` bodies, narrowed to it."""
    if media == "any":
        return raw
    paths = {}
    for path, operations in raw["paths"].items():
        kept = {}
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if media in content:
                kept[method] = {**operation, "requestBody": {
                    **operation["requestBody"], "content": {media: content[media]}}}
        if kept:
            paths[path] = kept
    return {**raw, "paths": paths}


@pytest.fixture(params=[(kind, media) for kind in KINDS for media in BODY_MEDIA],
                ids=lambda param: f"{param[0]}-{param[1].split('/')[-1]}")
def api_schema(request, transactional_db):
    world = build_world()
    with_source_data(world)
    kind, media = request.param
    raw = narrowed(Client().get("/api/schema/", {"format": "json"}).json(), media)
    config = schemathesis.Config.from_dict({"generation": {"database": "none"}})
    schema = schemathesis.openapi.from_dict(raw, config=config)
    # X-Forwarded-Proto as the TLS proxy sends it in production (no redirect to https).
    headers = {"Authorization": f"Bearer {world.a.keys[kind]}", "X-Forwarded-Proto": "https"}
    # testbed.wsgi's application, built afresh so its middleware reads this test's settings.
    schema.app = get_wsgi_application()
    ids = real_ids(world)

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """About half the examples name real objects (own and another organisation's)."""
        parts = context.operation.path.strip("/").split("/")  # api, v1, collection, …
        known = ids.get(parts[2], [])
        if not known or not path_parameters:
            return st.just(path_parameters)
        real = {}
        for name in path_parameters:
            pool = ids["consents"] if name == "consent_id" else known
            real[name] = st.sampled_from(pool)
        return st.one_of(st.just(path_parameters),
                         st.fixed_dictionaries(real).map(
                             lambda chosen: {**path_parameters, **chosen}))

    return schema, headers, media


def _fuzz(operation, headers: dict) -> str | None:
    """Run one operation's examples; the first failure's report, or None."""
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # check failures, or the app raising
        return f"{operation.label}: {exc}"
    return None


@pytest.mark.slow  # fuzzes every operation: `make test` and CI run it, `make test-fast` not
def test_api_conforms_to_its_schema(api_schema):
    schema, headers, media = api_schema
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()  # an invalid operation definition raises here
        operations += 1
        failure = _fuzz(operation, headers)
        if failure:
            failures.append(failure)
    # Every operation with the full schema; every one taking a multipart body on its own.
    assert operations >= (40 if media == "any" else 10)
    assert not failures, "\n\n".join(failures)


@pytest.mark.django_db
def test_the_schema_is_valid_openapi(client):
    raw = client.get("/api/schema/", {"format": "json"}).json()
    validate(raw)  # openapi-spec-validator: raises on any violation of the OpenAPI spec
    problem = raw["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail"}


@pytest.mark.slow  # a fresh interpreter generating the schema: `make test` and CI run it
def test_schema_generation_is_free_of_warnings(tmp_path):
    """drf-spectacular's own validation, failing on any warning (untyped parameters …)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
         "--file", str(tmp_path / "schema.yaml")],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr
