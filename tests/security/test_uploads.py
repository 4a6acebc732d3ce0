"""Result uploads are limited in size and type; hostile content is a 400, never a 500."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from trials.models import Measurement, ResultFile

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def url(world) -> str:
    return f"/api/v1/trials/{world.a.trial.pk}/results/"


def upload(world, name: str, content: bytes, content_type: str):
    file = SimpleUploadedFile(name, content, content_type=content_type)
    return world.client("flagship").post(url(world), {"file": file}, format="multipart")


@pytest.mark.parametrize(("name", "content_type"), [
    ("report.pdf", "application/pdf"),
    ("part.stl", "application/octet-stream"),  # CAD tools rarely know a type: extension
    ("fixture.STEP", "model/step"),
    ("photo.jpg", "image/jpeg"),
    ("logs.zip", "application/zip"),
    ("notes.txt", "text/plain"),
])
def test_allowed_files_are_kept(world, name, content_type):
    content = f"content of {name}".encode()
    response = upload(world, name, content, content_type)
    assert response.status_code == 200, response.content
    stored = ResultFile.objects.get(trial=world.a.trial)
    assert stored.name == name and stored.sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(("name", "content_type"), [
    ("page.html", "text/html"),  # would be served back to the SME: stored XSS
    ("diagram.svg", "image/svg+xml"),  # SVG carries script
    ("tool.exe", "application/octet-stream"),
    ("script.js", "application/javascript"),
    ("no-extension", "application/pdf"),
    ("report.pdf", "text/html"),  # the declared type must fit the extension
])
def test_other_files_are_refused_with_a_clear_400(world, name, content_type):
    response = upload(world, name, b"<script>alert(1)</script>", content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert "file" in body["errors"]
    assert "not accepted" in body["errors"]["file"][0] and ".pdf" in body["errors"]["file"][0]
    assert not ResultFile.objects.exists()


def test_a_raw_body_must_be_csv_or_json(world):
    response = world.client("flagship").generic("POST", url(world), b"%PDF-1.7 ...",
                                                 content_type="application/pdf")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "results" in response.json()["errors"]


def test_a_file_over_the_limit_is_413(world, settings):
    settings.TRIAL_RESULT_MAX_BYTES = 1024
    response = upload(world, "big.zip", b"x" * 2048, "application/zip")
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM
    assert not ResultFile.objects.exists()


def test_an_oversized_request_is_refused_before_it_is_read(world, settings):
    """A declared length beyond the limit is refused without reading (spooling) the body."""
    settings.TRIAL_RESULT_MAX_BYTES = 1024
    response = world.client("flagship").generic(
        "POST", url(world), b"timestamp,metric,value,unit\n", content_type="text/csv",
        CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM


def test_a_raw_body_over_the_request_limit_is_413(world, settings):
    settings.TRIAL_RESULT_MAX_BODY_BYTES = 1024
    body = b"timestamp,metric,value,unit\n" + b"x" * 2048
    response = world.client("flagship").generic("POST", url(world), body,
                                                 content_type="text/csv")
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM


@pytest.mark.parametrize("row", [
    "2026-01-05T10:00:00+08:00,spindle\x00load,1,%",  # NUL: PostgreSQL cannot store it
    "2026-01-05T10:00:00+08:00,load,1,\x00",
    "2026-01-05T10:00:00+20:00,load,1,%",  # an offset PostgreSQL refuses
    "0001-01-01T00:00:00+05:00,load,1,%",  # overflows on the way to UTC
    "9999-12-31T23:00:00-05:00,load,1,%",
])
def test_hostile_results_are_400_and_change_nothing(world, row):
    before = Measurement.objects.filter(trial=world.a.trial).count()
    body = f"timestamp,metric,value,unit\n{row}\n".encode()
    response = world.client("flagship").generic("POST", url(world), body,
                                                 content_type="text/csv")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert Measurement.objects.filter(trial=world.a.trial).count() == before


@pytest.mark.parametrize("body", [
    {"name": "Bad\x00name"},
    {"name": "ok", "capabilities": ["\x00"]},
    {"specs": {"power": "3\x00kW"}},
])
def test_nul_characters_in_api_input_are_400(world, body):
    response = world.client("flagship").patch(f"/api/v1/equipment/{world.a.equipment.pk}/",
                                              body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
