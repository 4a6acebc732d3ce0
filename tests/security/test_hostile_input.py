"""Hostile or careless input is refused with a 4xx and field errors, never a 500, and
changes nothing: multipart nulls, far-off years, deep and oversized JSON, naive times in
filters, oversized text. And every CSV the project writes neutralises formula cells."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from bookings.models import Booking
from core.parsers import MAX_JSON_DEPTH
from core.validators import DESCRIPTION_MAX_LENGTH, SPECS_MAX_BYTES
from equipment.models import Equipment
from organizations.models import Membership
from tests.factories import MembershipFactory
from trials import packages
from trials.models import Measurement, ResultFile, TrialMetric

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def equipment_url(world) -> str:
    return f"/api/v1/equipment/{world.a.equipment.pk}/"


def portal_client(organization) -> Client:
    user = MembershipFactory(organization=organization, role=Membership.Role.ADMIN).user
    client = Client()
    client.force_login(user)
    return client


# --- multipart null specs -----------------------------------------------------------------

@pytest.mark.parametrize("specs", ["null", "[1, 2]", "3", '"text"'])
def test_multipart_specs_that_are_not_an_object_are_a_400(world, specs):
    before = Equipment.objects.get(pk=world.a.equipment.pk).specs
    response = world.client("flagship").patch(equipment_url(world), {"specs": specs},
                                              format="multipart")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "specs" in response.json()["errors"]
    assert Equipment.objects.get(pk=world.a.equipment.pk).specs == before


def test_multipart_specs_as_an_object_still_work(world):
    response = world.client("flagship").patch(equipment_url(world), {"specs": '{"axes": 5}'},
                                              format="multipart")
    assert response.status_code == 200, response.content
    assert Equipment.objects.get(pk=world.a.equipment.pk).specs == {"axes": 5}


def test_specs_too_large_or_too_deep_are_a_400(world):
    client = world.client("flagship")
    large = {"notes": "x" * (SPECS_MAX_BYTES + 1)}
    deep: dict = {}
    node = deep
    for _ in range(8):
        node["a"] = {}
        node = node["a"]
    for specs in (large, deep):
        response = client.patch(equipment_url(world), {"specs": specs}, format="json")
        assert response.status_code == 400, response.content
        assert "specs" in response.json()["errors"]
    assert Equipment.objects.get(pk=world.a.equipment.pk).specs == {}


# --- text sizes -----------------------------------------------------------------------------

def test_descriptions_have_a_maximum_length(world):
    client = world.client("flagship")
    text = "x" * (DESCRIPTION_MAX_LENGTH + 1)
    response = client.patch(equipment_url(world), {"description": text}, format="json")
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    response = client.patch(f"/api/v1/hubs/{world.a.hub.slug}/", {"description": text},
                            format="json")
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    ok = client.patch(equipment_url(world), {"description": "x" * DESCRIPTION_MAX_LENGTH},
                      format="json")
    assert ok.status_code == 200


def test_a_four_megabyte_description_is_refused_before_it_is_parsed(world):
    body = json.dumps({"description": "x" * (4 * 1024 * 1024)})
    response = world.client("flagship").generic("PATCH", equipment_url(world), body,
                                                 content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "payload_too_large"
    assert Equipment.objects.get(pk=world.a.equipment.pk).description == ""


# --- JSON depth and body size ---------------------------------------------------------------

@pytest.mark.parametrize("body", ["[" * 5000, "[" * 5000 + "]" * 5000,
                                  "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)])
def test_deeply_nested_json_is_a_400(world, body):
    before = Booking.objects.count()
    response = world.client("sme").generic("POST", "/api/v1/bookings/", body,
                                           content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "too_deep"
    assert Booking.objects.count() == before


@pytest.mark.parametrize("fmt", ["multipart", "form"])
@pytest.mark.parametrize("value", ["[" * 5000, '{"a":' * 5000])
def test_deeply_nested_json_in_form_fields_is_a_400(world, fmt, value):
    client = world.client("flagship")
    if fmt == "multipart":
        response = client.patch(equipment_url(world), {"specs": value}, format="multipart")
    else:
        from urllib.parse import urlencode

        response = client.generic("PATCH", equipment_url(world), urlencode({"specs": value}),
                                  content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "too_deep"
    assert Equipment.objects.get(pk=world.a.equipment.pk).specs == {}


def test_brackets_inside_json_strings_do_not_count(world):
    specs = json.dumps({"note": "[" * 100})
    response = world.client("flagship").patch(equipment_url(world), {"specs": specs},
                                              format="multipart")
    assert response.status_code == 200, response.content


def test_json_within_the_depth_limit_is_parsed(world):
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = world.client("sme").generic("POST", "/api/v1/bookings/", nested,
                                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"  # parsed; a list is not a booking


@pytest.mark.parametrize("content_type", ["application/json",
                                          "application/x-www-form-urlencoded"])
def test_bodies_over_the_default_limit_are_413(world, settings, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = (json.dumps({"description": "x" * 2048}) if content_type == "application/json"
            else "description=" + "x" * 2048)
    response = world.client("flagship").generic("PATCH", equipment_url(world), body,
                                                content_type=content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert Equipment.objects.get(pk=world.a.equipment.pk).description == ""


def test_a_lying_content_length_cannot_smuggle_a_large_body(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"purpose": "x" * 4096}).encode()
    response = world.client("sme").generic("POST", "/api/v1/bookings/", body,
                                           content_type="application/json",
                                           CONTENT_LENGTH="100")
    assert response.status_code == 400  # only the first 100 bytes were read: not JSON


def test_the_default_limit_is_small():
    from django.conf import settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 2 * 1024 * 1024
    assert settings.TRIAL_RESULT_MAX_BODY_BYTES > settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_results_upload_takes_a_raw_body_above_the_default_limit(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    rows = "".join(f"2026-01-05T10:{m:02d}:00+08:00,load,{m},%\n" for m in range(60))
    body = ("timestamp,metric,value,unit\n" + rows * 3).encode()
    assert len(body) > 4096
    response = world.client("flagship").generic(
        "POST", f"/api/v1/trials/{world.a.trial.pk}/results/", body, content_type="text/csv")
    assert response.status_code == 200, response.content


def test_deeply_nested_json_results_are_a_400(world):
    before = Measurement.objects.filter(trial=world.a.trial).count()
    response = world.client("flagship").generic(
        "POST", f"/api/v1/trials/{world.a.trial.pk}/results/", "[" * 5000,
        content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert Measurement.objects.filter(trial=world.a.trial).count() == before


def test_results_raw_body_has_its_own_limit(world, settings):
    settings.TRIAL_RESULT_MAX_BODY_BYTES = 1024
    body = b"timestamp,metric,value,unit\n" + b"x" * 2048
    response = world.client("flagship").generic(
        "POST", f"/api/v1/trials/{world.a.trial.pk}/results/", body, content_type="text/csv")
    assert response.status_code == 413 and response["Content-Type"] == PROBLEM


def test_results_file_parts_do_not_count_against_the_default_limit(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    file = SimpleUploadedFile("report.pdf", b"%PDF" + b"x" * 8192,
                              content_type="application/pdf")
    response = world.client("flagship").post(f"/api/v1/trials/{world.a.trial.pk}/results/",
                                             {"file": file}, format="multipart")
    assert response.status_code == 200, response.content
    assert ResultFile.objects.filter(trial=world.a.trial).count() == 1


# --- naive datetimes in filters (invariant 5) ----------------------------------------------

@pytest.mark.parametrize(("kind", "path"), [
    ("sme", "/api/v1/bookings/?after=2026-12-01T00:00:00"),
    ("sme", "/api/v1/bookings/?before=2026-12-01T00:00"),
    ("sme", "/api/v1/trials/{trial}/measurements/?after=2026-12-01T00:00:00"),
    ("flagship", "/api/v1/trials/{trial}/measurements/?before=2026-12-01T00:00:00"),
])
def test_naive_datetimes_in_filters_are_a_400(world, kind, path):
    response = world.client(kind).get(path.format(trial=world.a.trial.pk))
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    errors = response.json()["errors"]
    field = "after" if "after" in path else "before"
    assert "offset" in errors[field][0]


def test_datetimes_with_an_offset_still_filter(world):
    response = world.client("sme").get("/api/v1/bookings/?after=2026-12-01T00:00:00%2B08:00")
    assert response.status_code == 200
    response = world.client("sme").get("/api/v1/bookings/?after=2026-12-01T00:00:00Z")
    assert response.status_code == 200


# --- the portal booking form with far-off years --------------------------------------------

@pytest.mark.parametrize(("start", "end"), [
    ("9999-12-31T10:00", "9999-12-31T12:00"),
    ("0001-01-01T00:00", "0001-01-01T02:00"),
    ("2026-12-01T10:00", "9999-12-31T23:30"),
])
def test_booking_form_with_a_far_off_year_is_a_form_error(world, start, end):
    client = portal_client(world.a.sme)
    before = Booking.objects.count()
    response = client.post(reverse("bookings:book", args=[world.a.equipment.pk]),
                           {"start": start, "end": end, "purpose": "Trial"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(f in errors for f in ("start", "end"))
    assert "1970" in str(errors)
    assert Booking.objects.count() == before


def test_catalog_search_with_a_far_off_year_is_a_form_error(world):
    client = portal_client(world.a.sme)
    response = client.get(reverse("bookings:catalog"),
                          {"free_from": "0001-01-01T00:00", "free_until": "0001-01-02T00:00"})
    assert response.status_code == 200
    assert "1970" in str(response.context["form"].errors["free_from"])


# --- CSV cells are never formulas ---------------------------------------------------------

FORMULA = '=HYPERLINK("http://x")'


def _hostile_measurement(world):
    trial = world.a.trial
    first = Measurement.objects.filter(trial=trial).order_by("ts").first()
    metric = TrialMetric.objects.create(trial=trial, name=FORMULA, unit="@SUM(A1)")
    Measurement.objects.create(trial=trial, ts=first.ts, metric=metric, value=-1.5)


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))  # downloads: BOM first


def _assert_neutralised(rows: list[list[str]]) -> None:
    hostile = [row for row in rows if FORMULA in "".join(row)]
    assert hostile, rows[:3]
    for row in hostile:
        assert "'" + FORMULA in row
        assert "'@SUM(A1)" in row
        assert "-1.5" in row  # numbers stay numbers: a negative value is not touched
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "@")]


def test_api_measurements_csv_neutralises_formulas(world):
    _hostile_measurement(world)
    response = world.client("sme").get(
        f"/api/v1/trials/{world.a.trial.pk}/measurements/?format=csv")
    assert response.status_code == 200
    _assert_neutralised(_rows(b"".join(response.streaming_content).decode()))


def test_portal_measurements_csv_neutralises_formulas(world):
    _hostile_measurement(world)
    client = portal_client(world.a.sme)
    response = client.get(reverse("trials:csv", args=[world.a.trial.pk]))
    assert response.status_code == 200
    _assert_neutralised(_rows(b"".join(response.streaming_content).decode()))


def test_data_package_csvs_neutralise_formulas(world):
    _hostile_measurement(world)
    trial = world.a.trial
    trial.summary = {**trial.summary, FORMULA: {"unit": "@SUM(A1)", "count": 1, "min": -1.5,
                                                "max": -1.5, "mean": -1.5}}
    trial.save(update_fields=["summary"])
    built = packages.build(world.a.release)
    with zipfile.ZipFile(built.file) as zf:
        measurements = zf.read("measurements.csv").decode()
        summary = zf.read("summary.csv").decode()
    _assert_neutralised(_rows(measurements))
    _assert_neutralised(_rows(summary))


def test_billing_report_uses_the_same_writer():
    from bookings.reports import selectors as reports
    from core import csv as core_csv

    text = reports._write(["name"], [[FORMULA], ["-2"], [-2]])
    assert _rows(text) == [["name"], ["'" + FORMULA], ["'-2"], ["-2"]]
    assert core_csv.neutralise("\tx") == "'\tx"


@pytest.mark.django_db
def test_malformed_json_is_a_translated_400_naming_where(settings):
    from tests.factories import OrganizationFactory
    from tests.fixtures.world import key_client

    sme = OrganizationFactory(slug="json-sme", name="Json SME")
    client = key_client(sme)
    response = client.post("/api/v1/bookings/", data='{"equipment": 1,\n "start": }',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON (line 2, column 11)."
    chinese = client.post("/api/v1/bookings/", data="{", content_type="application/json",
                          HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 400
    assert "JSON" in chinese.json()["detail"] and "line" not in chinese.json()["detail"]
