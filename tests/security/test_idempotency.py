"""Idempotency-Key on every creating POST (DESIGN.md: "POST that creates accepts
Idempotency-Key; a repeat with the same key and body returns the first response and
creates nothing").

The creating POSTs are derived from the URL conf (the permission matrix's walk) and the
OpenAPI schema (a POST answering 201, plus the results upload, which replaces a trial's
results and answers 200): a new route is either in ``CREATING`` — and then must replay
and conflict like the others — or listed in ``NOT_CREATING`` with its reason.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from drf_spectacular.generators import SchemaGenerator

from core.models import IdempotencyKey

from .test_permission_matrix import API, CALLS, MATRIX, call_for, exposed_endpoints

pytestmark = pytest.mark.django_db

# Uploads that create (or replace) rows but answer 200.
UPLOADS = {"trials/{pk}/results/"}
# POSTs that move an existing object (a transition, a revocation) or set a state that a
# repeat leaves as it is: not creations.
NOT_CREATING = {
    "bookings/{pk}/approve/", "bookings/{pk}/reject/", "bookings/{pk}/cancel/",
    "bookings/{pk}/check-in/", "bookings/{pk}/complete/",
    "agreements/{pk}/revoke/", "agreements/{pk}/standing-consent/",
    "service-requests/{pk}/decline/", "service-requests/{pk}/withdraw/",
    "service-requests/{pk}/refuse/",
    "claims/{pk}/submit/", "claims/{pk}/reopen/",
    "equipment/{pk}/result-source/test/",  # a read: connects to the source, stores nothing
}


def _schema_posts() -> dict[str, dict]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {path.removeprefix("/" + API).replace("{id}", "{pk}"): ops["post"]
            for path, ops in schema["paths"].items() if "post" in ops}


def _creating(posts: dict[str, dict]) -> set[str]:
    return {route for route, op in posts.items() if "201" in op["responses"]} | UPLOADS


POSTS = _schema_posts()
CREATING = sorted(_creating(POSTS))


def test_every_post_is_classified_and_creating_ones_document_the_header():
    exposed = {route for route, method in exposed_endpoints() if method == "POST"}
    schema_routes = {r.replace("{slug}", "{pk}") for r in POSTS}
    assert {r.replace("{slug}", "{pk}") for r in exposed} == schema_routes
    assert set(CREATING) | NOT_CREATING == set(POSTS)
    assert not set(CREATING) & NOT_CREATING
    assert len(CREATING) >= 9  # hubs, equipment, maintenance, bookings, consents, …
    for route in CREATING:
        headers = [p for p in POSTS[route].get("parameters", [])
                   if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert headers, f"POST /{API}{route} does not document Idempotency-Key"


def _kind_allowed(route: str) -> str:
    row = MATRIX[(route, "POST")]
    for kind, cell in row.items():
        own = cell[0] if isinstance(cell, tuple) else cell
        if own in (200, 201):
            return kind
    raise AssertionError(f"no kind may POST {route}")


def _snapshot() -> dict[str, tuple[int, int | None]]:
    """Every table's row count and highest id: a replay must leave all of them as they
    were (an upload that replaces rows changes the highest id)."""
    out = {}
    for model in apps.get_models():
        if model is IdempotencyKey or model._meta.pk.name != "id":
            continue
        rows = model._default_manager.all()
        last = rows.order_by("-id").values_list("id", flat=True).first()
        out[model._meta.label] = (rows.count(), last)
    return out


def _post(world, route: str, key: str, changed: bool = False):
    call = call_for(route, "POST")
    assert (route, "POST") in CALLS or (route, "*") in CALLS
    side = world.a
    path = "/" + API + route.format(**call.args(side, _kind_allowed(route)))
    client = world.client(_kind_allowed(route))
    body = call.body(world, side) if call.body else {}
    if call.content_type:
        if changed:
            body += b"\n"
        return client.post(path, body, content_type=call.content_type,
                           HTTP_IDEMPOTENCY_KEY=key)
    if changed:
        body = {**body, "idempotency_probe": "another body"}
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize("route", CREATING)
def test_replay_returns_the_first_response_and_creates_nothing(world, route):
    first = _post(world, route, key=f"key-{route}")
    assert first.status_code in (200, 201), first.content[:400]
    assert "Idempotent-Replayed" not in first
    before = _snapshot()

    again = _post(world, route, key=f"key-{route}")

    assert again.status_code == first.status_code
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _snapshot() == before


@pytest.mark.parametrize("route", CREATING)
def test_the_same_key_with_another_body_is_409(world, route):
    assert _post(world, route, key="reused").status_code in (200, 201)
    before = _snapshot()

    other = _post(world, route, key="reused", changed=True)

    assert other.status_code == 409
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"
    assert _snapshot() == before


@pytest.mark.parametrize("route", CREATING)
def test_a_refused_request_stores_nothing_under_its_key(world, route):
    """An error is not the "first response": nothing was created, so the key stays free."""
    path = "/" + API + route.format(**call_for(route, "POST").args(world.a, "flagship"))
    response = world.client(None).post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 401
    assert not IdempotencyKey.objects.exists()


def _multipart(world, key: str, content: bytes, boundary: str):
    path = f"/{API}trials/{world.a.trial.pk}/results/"
    upload = SimpleUploadedFile("results.csv", content, content_type="text/csv")
    return world.client("flagship").post(
        path, encode_multipart(boundary, {"file": upload}),
        content_type=f"multipart/form-data; boundary={boundary}", HTTP_IDEMPOTENCY_KEY=key)


def test_multipart_upload_is_fingerprinted_by_its_file_not_its_boundary(world):
    csv = CALLS[("trials/{pk}/results/", "POST")].body(world, world.a)
    first = _multipart(world, "upload-1", csv, boundary="first-boundary")
    assert first.status_code == 200, first.content[:400]
    before = _snapshot()

    again = _multipart(world, "upload-1", csv, boundary="another-boundary")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _snapshot() == before

    other = _multipart(world, "upload-1", csv + b"\n", boundary="first-boundary")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
