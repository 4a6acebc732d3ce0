"""Invariant 4 end to end: agreement + consent + collected trial → after the embargo the
university receives one signed webhook and a valid Frictionless package; every missing
condition releases nothing."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import frictionless
import pytest
import time_machine
from standardwebhooks import Webhook

from core import outbox
from core.models import DeliveryLog
from equipment.models import Category
from tests.fixtures.peers import Reply, complete, results_csv
from tests.fixtures.world import key_client, make_org
from trials.models import DatasetRelease, Trial
from trials.tasks import release_due_datasets

pytestmark = pytest.mark.django_db
EMBARGO = 7


@pytest.fixture(autouse=True)
def university(db):
    return make_org("tsinghua", "university")


@pytest.fixture
def other_university(db):
    return make_org("beihang", "university")


@pytest.fixture
def collected(checked_in, operator, gateway, django_capture_on_commit_callbacks):
    checked_in.purpose = "Confidential plan: XJ-9 titanium housing for Precision"
    checked_in.save(update_fields=["purpose"])
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=25)))
    with django_capture_on_commit_callbacks(execute=True):
        complete(checked_in, operator)
    trial = Trial.objects.get(pk=checked_in.pk)
    assert trial.status == Trial.Status.COLLECTED
    # The trial (tomorrow in the fixture) is over: the rest of the test lives after it.
    with time_machine.travel(checked_in.end + timedelta(minutes=1), tick=True):
        yield trial


def make_agreement(operator_client, receiver, hub, categories=("cnc",), **extra):
    body = {"university": "tsinghua", "hub": hub.slug, "categories": list(categories),
            "anonymize": True, "embargo_days": EMBARGO, "license": "CC-BY-4.0",
            "endpoint_url": receiver.url, "valid_from": "2020-01-01T00:00:00+08:00", **extra}
    r = operator_client.post("/api/v1/agreements/", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["signing_secret"].startswith("whsec_")
    return r.json()


def consent(sme_client, trial, agreement_id):
    r = sme_client.post(f"/api/v1/trials/{trial.pk}/consents/", {"agreement": agreement_id},
                        format="json")
    assert r.status_code == 201, r.content
    return r.json()


def after_embargo(trial, days=EMBARGO + 1):
    return time_machine.travel(trial.booking.end + timedelta(days=days), tick=True)


def test_end_to_end_release(collected, operator, sme, university, hub, receiver, tmp_path,
                            django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub)
    sme_client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        consent(sme_client, collected, agreement["id"])
    assert receiver.received == []  # still under embargo
    with after_embargo(collected):
        assert release_due_datasets() == 1
        assert len(receiver.received) == 1
        message = receiver.received[0]
        payload = Webhook(agreement["signing_secret"]).verify(message["body"],
                                                              message["headers"])
    assert payload["type"] == "dataset.released"
    data = payload["data"]
    release = DatasetRelease.objects.get()
    assert release.status == DatasetRelease.Status.DELIVERED
    assert release.receipt["status"] == 200
    assert message["headers"]["webhook-id"] == release.webhook_id
    assert data["sha256"] == release.sha256 and data["rows"] == 50
    assert data["package_url"] == f"/api/v1/datasets/{release.pk}/package/"

    uni_client = key_client(university)
    listed = uni_client.get("/api/v1/datasets/").json()
    assert [d["id"] for d in listed["results"]] == [release.pk]
    r = uni_client.get(data["package_url"])
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    blob = b"".join(r.streaming_content)
    import hashlib

    assert hashlib.sha256(blob).hexdigest() == data["sha256"]
    zipfile.ZipFile(io.BytesIO(blob)).extractall(tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    package = frictionless.Package(str(tmp_path / "datapackage.json"))
    assert len(package.get_resource("measurements").read_rows()) == 50
    descriptor = json.loads((tmp_path / "datapackage.json").read_text())
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    assert descriptor["contributors"][0]["title"] == operator.name
    # Anonymised: the SME's name and the trial plan appear nowhere.
    everything = blob.decode("latin-1") + "".join(
        p.read_text() for p in tmp_path.iterdir()) + message["body"]
    for secret in (sme.name, sme.slug, collected.booking.purpose):
        assert secret not in everything


def test_not_anonymised_names_the_sme(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, anonymize=False,
                               embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    (message,) = receiver.received
    assert sme.name in message["body"]


def test_retries_keep_the_same_webhook_id(collected, operator, sme, hub, receiver,
                                          django_capture_on_commit_callbacks):
    """The endpoint fails three times, then answers: one receipt, one webhook-id."""
    receiver.statuses = [500, 502, 503, 200]
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    release = DatasetRelease.objects.get()
    assert release.status == DatasetRelease.Status.PENDING and release.attempts == 1
    assert release_due_datasets() == 0  # the retry is not due yet
    for hours in (1, 2, 3):  # the backoff has passed each time
        with time_machine.travel(collected.booking.end + timedelta(hours=hours), tick=True):
            assert release_due_datasets() == 1
    release.refresh_from_db()
    assert release.status == DatasetRelease.Status.DELIVERED
    assert len(receiver.received) == 4
    assert {m["headers"]["webhook-id"] for m in receiver.received} == {release.webhook_id}
    attempts = DeliveryLog.objects.filter(message=release.message)
    assert attempts.count() == 4 and attempts.filter(ok=True).count() == 1
    assert sorted(a.status_code for a in attempts) == [200, 500, 502, 503]
    assert release.receipt["status"] == 200
    with time_machine.travel(collected.booking.end + timedelta(hours=5), tick=True):
        assert release_due_datasets() == 0
    assert len(receiver.received) == 4


def test_running_twice_releases_and_delivers_once(collected, operator, sme, hub, receiver,
                                                  django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    release_due_datasets()
    release_due_datasets()
    release = DatasetRelease.objects.get()
    assert outbox.deliver(message_id=release.message_id) == "skipped"  # already sent
    assert len(receiver.received) == 1
    assert DatasetRelease.objects.count() == 1


def _nothing_released(receiver, university):
    release_due_datasets()
    assert receiver.received == []
    assert not DatasetRelease.objects.exclude(status="withdrawn").exists()
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 0


def test_no_consent(collected, operator, hub, receiver, university):
    make_agreement(key_client(operator), receiver, hub)
    with after_embargo(collected):
        _nothing_released(receiver, university)


def test_revoked_consent(collected, operator, sme, hub, receiver, university,
                         django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub)
    sme_client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        given = consent(sme_client, collected, agreement["id"])
    r = sme_client.delete(f"/api/v1/trials/{collected.pk}/consents/{given['id']}/")
    assert r.status_code == 200 and r.json()["active"] is False
    with after_embargo(collected):
        _nothing_released(receiver, university)


def test_consent_revoked_after_release_opened_withdraws_it(
        collected, operator, sme, hub, receiver, university,
        django_capture_on_commit_callbacks):
    receiver.statuses = [503]
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    sme_client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        given = consent(sme_client, collected, agreement["id"])
    release = DatasetRelease.objects.get()
    # The first attempt was answered 503: still pending, retried later, the error recorded.
    assert (release.status, release.last_error) == (DatasetRelease.Status.PENDING, "HTTP 503")
    sme_client.delete(f"/api/v1/trials/{collected.pk}/consents/{given['id']}/")
    release.refresh_from_db()
    assert release.status == DatasetRelease.Status.WITHDRAWN
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 0


def test_embargo_not_passed(collected, operator, sme, hub, receiver, university,
                            django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    with after_embargo(collected, days=EMBARGO - 1):
        _nothing_released(receiver, university)


def test_category_out_of_scope(collected, operator, sme, hub, receiver, university):
    Category.objects.create(name="Robots", slug="robots")
    agreement = make_agreement(key_client(operator), receiver, hub, categories=("robots",))
    r = key_client(sme).post(f"/api/v1/trials/{collected.pk}/consents/",
                             {"agreement": agreement["id"]}, format="json")
    assert r.status_code == 400 and "agreement" in r.json()["errors"]
    with after_embargo(collected):
        _nothing_released(receiver, university)


def test_revoked_agreement(collected, operator, sme, hub, receiver, university,
                           django_capture_on_commit_callbacks):
    operator_client = key_client(operator)
    agreement = make_agreement(operator_client, receiver, hub)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    assert operator_client.post(f"/api/v1/agreements/{agreement['id']}/revoke/").status_code == 200
    with after_embargo(collected):
        _nothing_released(receiver, university)


def test_expired_agreement(collected, operator, sme, hub, receiver, university,
                           django_capture_on_commit_callbacks):
    until = (collected.booking.end + timedelta(days=2)).isoformat()
    agreement = make_agreement(key_client(operator), receiver, hub, valid_until=until)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    with after_embargo(collected):
        _nothing_released(receiver, university)


def test_another_universitys_key_sees_nothing(collected, operator, sme, hub, receiver,
                                              university, other_university,
                                              django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    release = DatasetRelease.objects.get(status="delivered")
    other = key_client(other_university)
    assert len(other.get("/api/v1/datasets/").json()["results"]) == 0
    assert other.get(f"/api/v1/datasets/{release.pk}/package/").status_code == 404
    assert other.get(f"/api/v1/agreements/{agreement['id']}/").status_code == 404
    assert key_client(university).get(f"/api/v1/agreements/{agreement['id']}/").status_code == 200
    # Nor may an SME or an operator download packages.
    assert key_client(sme).get(f"/api/v1/datasets/{release.pk}/package/").status_code == 404


def test_standing_consent_applies_to_collected_trials(collected, operator, sme, hub, receiver,
                                                      django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    r = key_client(sme).post(f"/api/v1/agreements/{agreement['id']}/standing-consent/")
    assert r.status_code == 204
    release_due_datasets()
    assert len(receiver.received) == 1
    assert collected.consents.get().standing is True


def test_only_the_owner_consents(collected, operator, other_sme, hub, receiver):
    agreement = make_agreement(key_client(operator), receiver, hub)
    r = key_client(other_sme).post(f"/api/v1/trials/{collected.pk}/consents/",
                                   {"agreement": agreement["id"]}, format="json")
    assert r.status_code == 404
    r = key_client(operator).post(f"/api/v1/trials/{collected.pk}/consents/",
                                  {"agreement": agreement["id"]}, format="json")
    assert r.status_code == 403


def test_agreement_validation(operator, hub, receiver, sme):
    client = key_client(operator)
    r = client.post("/api/v1/agreements/", {"university": "nope", "hub": "nope",
                                            "categories": ["nope"], "endpoint_url": receiver.url,
                                            "valid_from": "2020-01-01T00:00:00"}, format="json")
    assert r.status_code == 400 and "valid_from" in r.json()["errors"]
    r = client.post("/api/v1/agreements/", {"university": "nope", "hub": "nope",
                                            "categories": ["nope"], "endpoint_url": receiver.url,
                                            "valid_from": "2020-01-01T00:00:00Z"}, format="json")
    assert r.json()["errors"] == {
        "university": ["No university with this slug."],
        "hub": ["No hub with this slug among the hubs you run."],
        "categories": ["Unknown categories: nope."]}
    assert key_client(sme).post("/api/v1/agreements/", {}, format="json").status_code == 403


def test_operator_webhooks_and_sme_mail_for_collection_and_release(
        checked_in, operator, sme, hub, gateway, receiver, settings, client,
        django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    from tests.fixtures.links import SITE, link_in, opens_for

    settings.SITE_URL = SITE
    from django.core import mail

    from core import webhooks
    from core.models import WebhookEndpoint
    from organizations.models import Membership

    lead = get_user_model().objects.create_user("lead@sme.example", email="lead@sme.example")
    Membership.objects.create(user=lead, organization=sme, role="admin")
    WebhookEndpoint.objects.create(organization=operator, url=receiver.url,
                                   secret=webhooks.new_secret(),
                                   event_types=["trial.collected", "dataset.released"])
    gateway.reply(Reply(body=results_csv(checked_in.start, rows=5)))
    with django_capture_on_commit_callbacks(execute=True):
        complete(checked_in, operator)
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with (time_machine.travel(checked_in.end + timedelta(minutes=5), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        consent(key_client(sme), Trial.objects.get(pk=checked_in.pk), agreement["id"])
        release_due_datasets()
    types = [json.loads(m["body"])["type"] for m in receiver.received]
    # The university's delivery, and one webhook per event to the operator's endpoint.
    assert sorted(types) == ["dataset.released", "dataset.released", "trial.collected"]
    events = sorted(m.extra_headers["X-Testbed-Event"] for m in mail.outbox
                    if m.to == ["lead@sme.example"]
                    and not m.extra_headers["X-Testbed-Event"].startswith("booking."))
    assert events == ["dataset.released", "trial.collected"]
    # Both link to the trial's page, which opens for the SME.
    links = {link_in(m.body) for m in mail.outbox if m.to == ["lead@sme.example"]
             and m.extra_headers["X-Testbed-Event"] in events}
    assert links == {f"{SITE}/trials/{checked_in.pk}/"}
    assert opens_for(client, lead, links.pop()) == 200
