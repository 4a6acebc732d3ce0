"""What a release was consented to stays with it, whatever the agreement says later: its
recipient (a change of university never hands delivered data to the new one), and its
terms (a release built without recorded terms is read as strictly as there is, never under
the agreement's current, possibly looser, terms). Consent and a change of terms serialise
on the agreement's row."""

from __future__ import annotations

import importlib
import threading
import time
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from tests.fixtures.world import key_client, make_org
from tests.trials.test_consent_terms import TERMS_A, agreement_a, patch
from tests.trials.test_sharing import after_embargo, collected, consent, university
from trials import sharing
from trials.models import AgreementVersion, Consent, DatasetRelease, Trial
from trials.tasks import release_due_datasets

pytestmark = pytest.mark.django_db
__all__ = ["collected", "university"]  # fixtures shared with test_sharing


@pytest.fixture
def beihang(db):
    return make_org("beihang", "university")


def delivered(collected, operator, sme, hub, receiver, capture, **terms) -> tuple[dict, int]:
    """The agreement (under terms A) and the id of the release delivered to tsinghua."""
    agreement = agreement_a(operator, receiver, hub)
    if terms:
        patch(operator, agreement["id"], terms)
    with capture(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    with after_embargo(collected), capture(execute=True):
        release_due_datasets()
    release = DatasetRelease.objects.get()
    assert release.status == "delivered" and len(receiver.received) == 1
    return agreement, release.pk


# --- 1. the recipient is the university consented to ----------------------------------

def test_changing_the_university_does_not_hand_delivered_data_to_the_new_one(
        collected, operator, sme, hub, university, beihang, receiver,
        django_capture_on_commit_callbacks):
    agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks)
    changed = patch(operator, agreement["id"], {"university": "beihang"})
    assert changed["terms"]["university"] == "beihang"

    new = key_client(beihang)
    assert len(new.get("/api/v1/datasets/").json()["results"]) == 0
    assert new.get(f"/api/v1/datasets/{release_id}/").status_code == 404
    assert new.get(f"/api/v1/datasets/{release_id}/package/").status_code == 404
    # The university it was delivered to still has it.
    old = key_client(university)
    assert [d["id"] for d in old.get("/api/v1/datasets/").json()["results"]] == [release_id]
    response = old.get(f"/api/v1/datasets/{release_id}/package/")
    assert response.status_code == 200
    assert DatasetRelease.objects.get().recipient == university
    assert len(receiver.received) == 1  # and nothing more was sent anywhere


def test_a_release_held_for_the_new_recipient_goes_only_where_the_sme_consents(
        collected, operator, sme, hub, university, beihang, receiver,
        django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    sme_client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        consent(sme_client, collected, agreement["id"])
    patch(operator, agreement["id"], {"university": "beihang"})
    with after_embargo(collected):
        with django_capture_on_commit_callbacks(execute=True):
            release_due_datasets()
        release = DatasetRelease.objects.get()
        # Made for the university consented to, and held: nobody sees it.
        assert (release.recipient, release.held, release.sha256) == (
            university, "recipient_changed", "")
        for uni in (university, beihang):
            assert len(key_client(uni).get("/api/v1/datasets/").json()["results"]) == 0
        # The SME consents to the new terms: the release goes to beihang, and only there.
        with django_capture_on_commit_callbacks(execute=True):
            renewed = consent(sme_client, collected, agreement["id"])
    assert renewed["university"] == "Beihang" and renewed["terms"]["university"] == "beihang"
    release.refresh_from_db()
    assert (release.status, release.recipient) == ("delivered", beihang)
    assert release.terms["university"] == beihang.pk
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 0
    assert [d["id"] for d in key_client(beihang).get("/api/v1/datasets/").json()["results"]
            ] == [release.pk]


def test_a_hub_change_shows_nothing_new_to_anyone(
        collected, operator, sme, hub, university, receiver, django_capture_on_commit_callbacks):
    from equipment.models import Hub

    Hub.objects.create(operator=operator, name="Zhongguancun", slug="zhongguancun",
                       timezone="Asia/Shanghai")
    agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks)
    before = key_client(university).get(f"/api/v1/datasets/{release_id}/").json()
    patch(operator, agreement["id"], {"hub": "zhongguancun"})
    after = key_client(university).get(f"/api/v1/datasets/{release_id}/").json()
    assert after == before  # what was delivered, as delivered


# --- 2. a release without recorded terms fails closed ----------------------------------

def test_a_release_without_terms_is_never_read_under_looser_current_terms(
        collected, operator, sme, hub, university, receiver,
        django_capture_on_commit_callbacks):
    agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks,
                                      anonymize=True, shift_timestamps=False)
    # As a release built before the terms were recorded (empty terms, no consent).
    DatasetRelease.objects.filter(pk=release_id).update(terms={}, consent=None)
    patch(operator, agreement["id"], {"anonymize": False, "shift_timestamps": False})

    shown = key_client(university).get(f"/api/v1/datasets/{release_id}/").json()["metadata"]
    booking = collected.booking
    assert "organization" not in shown["trial"] and "purpose" not in shown["trial"]
    assert "start" not in shown["trial"] and "end" not in shown["trial"]
    assert shown["trial"]["id"] != f"trial-{collected.pk}"
    listed = str(key_client(university).get("/api/v1/datasets/").json())
    for secret in (sme.name, booking.purpose, booking.start.isoformat()):
        assert secret not in listed


def test_the_backfill_binds_old_releases_to_version_1_and_its_consent(
        collected, operator, sme, hub, university, receiver,
        django_capture_on_commit_callbacks):
    agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks)
    given = Consent.objects.get()
    DatasetRelease.objects.filter(pk=release_id).update(terms={}, consent=None)
    patch(operator, agreement["id"], {"anonymize": False, "license": "CC0-1.0"})
    migration = importlib.import_module(
        "trials.migrations.0006_release_recipient_and_terms_backfill")
    editor = SimpleNamespace(connection=connection,  # what the backfill uses of one
                             execute=lambda sql: connection.cursor().execute(sql))
    migration.backfill(apps, editor)

    release = DatasetRelease.objects.get()
    first = AgreementVersion.objects.get(agreement_id=agreement["id"], number=1)
    assert release.terms == first.terms and release.terms["anonymize"] is True
    assert release.terms["license"] == TERMS_A["license"]
    assert release.consent == given and release.recipient == university
    metadata = key_client(university).get(f"/api/v1/datasets/{release_id}/").json()["metadata"]
    assert "organization" not in metadata["trial"]


# --- 4. consent and a change of terms serialise on the agreement's row -----------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_consent_given_during_a_change_of_terms_waits_for_it(
        checked_in, operator, sme, hub, university, receiver, monkeypatch):
    agreement = sharing.create_agreement(
        operator=operator, university="tsinghua", hub=hub.slug, categories=["cnc"],
        endpoint_url=receiver.url, valid_from=checked_in.start.replace(year=2020),
        anonymize=True, embargo_days=30)
    trial, _ = Trial.objects.get_or_create(booking=checked_in)
    changing, go_on = threading.Event(), threading.Event()
    asked = sharing.services._ask_for_new_consent

    def slow_ask(*args, **kwargs):  # the change of terms holds the lock here, a while
        changing.set()
        go_on.wait(10)
        return asked(*args, **kwargs)

    monkeypatch.setattr(sharing.services, "_ask_for_new_consent", slow_ask)
    errors, given = [], []

    def in_thread(call):
        def run():
            try:
                given.append(call())
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                connection.close()
        return threading.Thread(target=run)

    change = in_thread(lambda: sharing.update_agreement(
        agreement=agreement, by=operator, data={"embargo_days": 90}))
    grant = in_thread(lambda: sharing.grant_consent(
        trial=trial, agreement_id=agreement.pk, organization=sme))
    change.start()
    assert changing.wait(10)
    grant.start()
    time.sleep(0.5)
    assert grant.is_alive(), "the consent did not wait for the change of terms"
    go_on.set()
    change.join(10)
    grant.join(10)
    assert errors == []
    # It waited, and was given under the new terms: not under version 1 after the change
    # had looked for the consents to version 1 (which would never have been told).
    assert Consent.objects.get().version.number == 2


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_recipient_terms_and_consent(
        collected, operator, sme, hub, university, beihang, receiver,
        django_capture_on_commit_callbacks):
    """Migrating a database with a release built before terms were recorded: it gets the
    university, terms and consent of version 1, not the agreement's current ones."""
    from django.db.migrations.executor import MigrationExecutor

    from tests.trials.test_release_outbox_migration import latest

    agreement, release_id = delivered(collected, operator, sme, hub, receiver,
                                      django_capture_on_commit_callbacks)
    given = Consent.objects.get()
    patch(operator, agreement["id"], {"university": "beihang", "anonymize": False})
    before = [("trials", "0005_consent_version_required")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = MigrationExecutor(connection).loader.project_state(before).apps
        old.get_model("trials", "DatasetRelease").objects.filter(pk=release_id).update(
            terms={}, consent=None)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
    finally:
        executor.migrate(latest())
    release = DatasetRelease.objects.get()
    assert release.recipient == university and release.consent == given
    assert release.terms == AgreementVersion.objects.get(number=1).terms
    assert len(key_client(beihang).get("/api/v1/datasets/").json()["results"]) == 0
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 1
