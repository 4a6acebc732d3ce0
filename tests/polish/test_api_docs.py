"""The API docs: one tag per resource, and every operation described for integrators (no
docstring written for this code's maintainers leaking into the schema)."""

from __future__ import annotations

import json

import pytest

from core.schema import OPERATIONS, TAGS

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")
INTERNAL = (
    "DESIGN.md",
    "self.",
    "``",
    "Viewset",
    "mixin",
    "Gives a view",
    "queryset",
    "Written out by hand",
    "selectors.",
    "services.",
)


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_one_tag_per_resource(schema):
    tags_used = {}
    for _, path, operation in operations(schema):
        assert len(operation["tags"]) == 1, path
        resource = path.split("/api/v1/", 1)[1].split("/", 1)[0]
        tags_used.setdefault(resource, set()).update(operation["tags"])
    assert all(len(tags) == 1 for tags in tags_used.values()), tags_used
    assert len({tag for tags in tags_used.values() for tag in tags}) == len(tags_used)
    names = {tag for _, _, operation in operations(schema) for tag in operation["tags"]}
    assert {
        "Hubs",
        "Equipment",
        "Bookings",
        "Trials",
        "Agreements",
        "Datasets",
        "Reports",
        "Webhooks",
    } <= names
    assert "v1" not in names
    described = {tag["name"]: tag.get("description") for tag in schema["tags"]}
    assert names <= set(described)
    assert all(described[name] for name in names if name in {n for _, n, _ in TAGS})


def test_every_operation_has_a_summary_and_a_description(schema):
    for method, path, operation in operations(schema):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert len(operation["description"]) > len(operation["summary"]), (method, path)


def test_no_internal_wording_in_the_schema(schema):
    text = json.dumps(schema)
    leaks = [mark for mark in INTERNAL if mark in text]
    assert leaks == []


def test_the_written_descriptions_match_real_operations(schema):
    real = {(method, path) for method, path, _ in operations(schema)}
    assert set(OPERATIONS) <= real, set(OPERATIONS) - real
