"""Trials API: visibility (404 for strangers), measurements with filters and CSV, uploads."""

import json
from datetime import datetime

import pytest

from tests.fixtures.peers import Reply, complete, results_csv
from tests.fixtures.world import key_client
from trials.models import Measurement, ResultFile, Trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(checked_in, operator, gateway, django_capture_on_commit_callbacks):
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=30)))
    with django_capture_on_commit_callbacks(execute=True):
        complete(checked_in, operator)
    return Trial.objects.get(pk=checked_in.pk)


def test_owner_and_operator_see_the_trial_others_get_404(collected, sme, operator, other_sme,
                                                          other_operator):
    for org in (sme, operator):
        r = key_client(org).get(f"/api/v1/trials/{collected.pk}/")
        assert r.status_code == 200
        assert r.json()["status"] == "collected"
        assert r.json()["summary"]["spindle_load"]["count"] == 30
    for org in (other_sme, other_operator):
        for path in ("", "measurements/"):
            r = key_client(org).get(f"/api/v1/trials/{collected.pk}/{path}")
            assert r.status_code == 404
            assert r["Content-Type"] == "application/problem+json"


def test_booking_response_names_its_trial(collected, sme):
    r = key_client(sme).get(f"/api/v1/bookings/{collected.pk}/")
    assert r.json()["trial"] == collected.pk


def _every_page(client, url: str) -> list[list[dict]]:
    pages = []
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.content
        pages.append(r.json()["results"])
        url = r.json()["next"]
    return pages


def test_measurements_paginated_and_filtered(collected, sme):
    client = key_client(sme)
    page = client.get(f"/api/v1/trials/{collected.pk}/measurements/").json()
    assert len(page["results"]) == 50 and page["next"] and page["previous"] is None
    assert "count" not in page  # cursor pages: no count of millions of rows
    first = page["results"][0]
    assert datetime.fromisoformat(first.pop("timestamp")) == collected.booking.start
    assert first == {"metric": "spindle_load", "value": 60.0, "unit": "%"}
    pages = _every_page(client, f"/api/v1/trials/{collected.pk}/measurements/")
    assert [len(p) for p in pages] == [50, 10]
    only = _every_page(client, f"/api/v1/trials/{collected.pk}/measurements/?metric=vibration_rms")
    assert sum(len(p) for p in only) == 30
    assert {r["metric"] for p in only for r in p} == {"vibration_rms"}
    after = collected.booking.start.isoformat().replace("+", "%2B")
    ranged = _every_page(client, f"/api/v1/trials/{collected.pk}/measurements/"
                                 f"?metric=spindle_load&after={after}")
    assert sum(len(p) for p in ranged) == 30


def test_measurements_csv_download(collected, operator):
    r = key_client(operator).get(f"/api/v1/trials/{collected.pk}/measurements/?format=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = b"".join(r.streaming_content).decode("utf-8-sig").splitlines()  # BOM first
    assert lines[0] == "timestamp,metric,value,unit" and len(lines) == 61


def test_operator_uploads_csv_json_and_files(checked_in, operator, sme):
    client = key_client(operator)
    url = f"/api/v1/trials/{checked_in.pk}/results/"
    r = client.generic("POST", url, results_csv(checked_in.start, rows=2),
                       content_type="text/csv")
    assert r.status_code == 200, r.content
    assert r.json()["measurement_count"] == 4
    body = json.dumps([{"timestamp": checked_in.start.isoformat(), "metric": "cycle_time",
                        "value": 184.2, "unit": "s"}])
    r = client.generic("POST", url, body, content_type="application/json")
    assert r.json()["measurement_count"] == 1  # an upload replaces earlier results
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("part.jpg", b"\xff\xd8\xff fake jpeg", content_type="image/jpeg")
    r = client.post(url, {"file": photo}, format="multipart")
    assert r.status_code == 200
    stored = ResultFile.objects.get(trial_id=checked_in.pk)
    import hashlib

    assert stored.sha256 == hashlib.sha256(b"\xff\xd8\xff fake jpeg").hexdigest()
    assert Measurement.objects.filter(trial_id=checked_in.pk).count() == 1


def test_bad_upload_is_400_and_changes_nothing(checked_in, operator):
    client = key_client(operator)
    url = f"/api/v1/trials/{checked_in.pk}/results/"
    client.generic("POST", url, results_csv(checked_in.start, rows=2), content_type="text/csv")
    r = client.generic("POST", url, b"timestamp,metric,value,unit\nnope,a,1,%\n",
                       content_type="text/csv")
    assert r.status_code == 400
    assert "line 2" in r.json()["errors"]["results"][0]
    assert Measurement.objects.filter(trial_id=checked_in.pk).count() == 4


def test_sme_cannot_upload(checked_in, sme):
    r = key_client(sme).generic("POST", f"/api/v1/trials/{checked_in.pk}/results/",
                                results_csv(checked_in.start), content_type="text/csv")
    assert r.status_code == 403
