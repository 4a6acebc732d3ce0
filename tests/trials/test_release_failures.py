"""Release failures are seen (staff: state, last error, retry; the SME: 'delivery delayed';
the operator and staff: one e-mail after the last attempt), and the admin console writes
agreements and releases only through the sharing services."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.utils import quote
from django.core import mail
from django.test import Client
from django.urls import reverse

from core.errors import Conflict
from core.models import DeliveryLog
from organizations.models import Membership
from tests.factories import UserFactory
from tests.fixtures.links import SITE, link_in, opens_for
from tests.fixtures.world import key_client
from tests.trials.test_sharing import collected, consent, make_agreement, university
from trials import sharing
from trials.models import (
    AgreementVersion,
    Consent,
    DatasetRelease,
    SharingAgreement,
    StandingConsent,
    Trial,
)
from trials.tasks import release_due_datasets

pytestmark = pytest.mark.django_db
__all__ = ["collected", "university"]  # fixtures shared with test_sharing


@pytest.fixture
def people(sme, operator):
    """An SME admin, a hub operator's operator-role member, and a platform superuser."""
    made = {}
    for key, org, role in (("sme", sme, "admin"), ("operator", operator, "operator")):
        user = UserFactory(email=f"{key}@people.test")
        Membership.objects.create(user=user, organization=org, role=role)
        made[key] = user
    made["staff"] = UserFactory(email="staff@platform.test", is_staff=True, is_superuser=True)
    return made


def staff_client(people) -> Client:
    client = Client()
    client.force_login(people["staff"])
    return client


def failing_release(collected, operator, sme, hub, receiver, capture) -> DatasetRelease:
    """A consented release whose endpoint answers 500 with a body of its own."""
    receiver.statuses = [500]
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with capture(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    return DatasetRelease.objects.get()


def run_until_failed(release, collected, capture) -> None:
    for hours in range(1, sharing.MAX_DELIVERY_ATTEMPTS + 3):
        with (time_machine.travel(collected.booking.end + timedelta(hours=hours), tick=True),
              capture(execute=True)):
            release_due_datasets()


def failure_mails() -> list:
    return [m for m in mail.outbox
            if m.extra_headers.get("X-Testbed-Event") == "dataset.delivery_failed"]


def test_the_sme_sees_delivery_delayed_not_pending(collected, operator, sme, hub, receiver,
                                                   people, django_capture_on_commit_callbacks):
    release = failing_release(collected, operator, sme, hub, receiver,
                              django_capture_on_commit_callbacks)
    assert (release.status, release.attempts) == ("pending", 1)
    # The tenant-visible error is the status, never the remote's words.
    assert release.last_error == "HTTP 500"
    assert "received" in DeliveryLog.objects.get().response_excerpt  # staff's log keeps it
    client = Client()
    client.force_login(people["sme"])
    html = client.get(reverse("trials:detail", args=[collected.pk])).content.decode()
    assert "Delivery delayed" in html and "Release: Pending" not in html
    assert "received" not in html


def test_connection_errors_are_not_echoed_to_tenants(collected, operator, sme, hub,
                                                     django_capture_on_commit_callbacks):
    from tests.fixtures.peers import Receiver

    closed = Receiver(url="http://127.0.0.1:9/hooks")  # discard port: refused at once
    agreement = make_agreement(key_client(operator), closed, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    release = DatasetRelease.objects.get()
    assert release.attempts == 1 and release.last_error
    assert "127.0.0.1" not in release.last_error and ":" not in release.last_error


def test_final_failure_tells_operator_and_staff_once_and_staff_retry(
        collected, operator, sme, hub, receiver, people, university, settings,
        django_capture_on_commit_callbacks):
    settings.SITE_URL = SITE
    release = failing_release(collected, operator, sme, hub, receiver,
                              django_capture_on_commit_callbacks)
    run_until_failed(release, collected, django_capture_on_commit_callbacks)
    release.refresh_from_db()
    assert release.status == "failed" and release.attempts == sharing.MAX_DELIVERY_ATTEMPTS
    assert sorted(m.to[0] for m in failure_mails()) == ["operator@people.test",
                                                        "staff@platform.test"]
    # The operator's mail links to the trial in the console, staff's to the release in the
    # admin, where they retry it.
    links = {m.to[0]: link_in(m.body) for m in failure_mails()}
    assert links == {
        "operator@people.test": f"{SITE}/console/trials/{collected.pk}/",
        "staff@platform.test": f"{SITE}/admin/trials/datasetrelease/{release.pk}/change/"}
    assert opens_for(Client(), people["operator"], links["operator@people.test"]) == 200
    assert opens_for(Client(), people["staff"], links["staff@platform.test"]) == 200
    run_until_failed(release, collected, django_capture_on_commit_callbacks)
    assert len(failure_mails()) == 2  # once, however often the sweep runs

    # Staff see the state and the last error in the console, filtered by status.
    client = staff_client(people)
    changelist = reverse("admin:trials_datasetrelease_changelist")
    page = client.get(changelist, {"status__exact": "failed"}).content.decode()
    assert f">{release.pk}<" in page and "HTTP 500" in page
    # The SME sees that delivery failed, not 'pending'.
    sme_client = Client()
    sme_client.force_login(people["sme"])
    html = sme_client.get(reverse("trials:detail", args=[collected.pk])).content.decode()
    assert "Delivery failed" in html

    # Retry through the console, once the endpoint works again.
    receiver.statuses = [200]
    with (time_machine.travel(collected.booking.end + timedelta(days=1), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        response = client.post(changelist, {"action": "retry_delivery",
                                            "_selected_action": [release.pk]})
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.status == "delivered" and release.attempts == 1
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 1
    # A delivered release is settled: nothing to retry.
    with pytest.raises(Conflict):
        sharing.retry_release(release_id=release.pk, by_staff=people["staff"])


def test_the_outbox_console_retries_a_failed_release_like_the_release_console(
        collected, operator, sme, hub, receiver, people, university,
        django_capture_on_commit_callbacks):
    """One engine: the release's delivery is an outbox message, shown (state, last error,
    every attempt) and retried in the outbox's console; eligibility is checked again."""
    release = failing_release(collected, operator, sme, hub, receiver,
                              django_capture_on_commit_callbacks)
    run_until_failed(release, collected, django_capture_on_commit_callbacks)
    release.refresh_from_db()
    message = release.message
    assert (release.status, message.status, message.message_id) == (
        "failed", "failed", release.webhook_id)
    assert DeliveryLog.objects.filter(message=message).count() == sharing.MAX_DELIVERY_ATTEMPTS
    client = staff_client(people)
    changelist = reverse("admin:core_outboxmessage_changelist")
    page = client.get(changelist, {"status__exact": "failed"}).content.decode()
    assert "dataset.released" in page and "HTTP 500" in page

    receiver.statuses = [200]
    with (time_machine.travel(collected.booking.end + timedelta(days=1), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        response = client.post(changelist, {"action": "retry_now",
                                            "_selected_action": [message.pk]})
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.status, release.attempts, release.last_error) == ("delivered", 1, "")
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 1


def test_revoking_consent_cancels_the_pending_delivery(
        collected, operator, sme, hub, receiver, django_capture_on_commit_callbacks):
    release = failing_release(collected, operator, sme, hub, receiver,
                              django_capture_on_commit_callbacks)
    given = Consent.objects.get()
    r = key_client(sme).delete(f"/api/v1/trials/{collected.pk}/consents/{given.pk}/")
    assert r.status_code == 200
    release.refresh_from_db()
    release.message.refresh_from_db()
    assert (release.status, release.message.status) == ("withdrawn", "cancelled")
    with time_machine.travel(collected.booking.end + timedelta(days=1), tick=True):
        assert release_due_datasets() == 0
    assert len(receiver.received) == 1


def test_admin_revoke_withdraws_and_takes_back_packages(
        collected, operator, sme, hub, receiver, university, people,
        django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    release = DatasetRelease.objects.get(status="delivered")
    uni = key_client(university)
    package = f"/api/v1/datasets/{release.pk}/package/"
    assert uni.get(package).status_code == 200

    client = staff_client(people)
    # revoked_at cannot be edited by hand: the change form does not carry it.
    change = reverse("admin:trials_sharingagreement_change", args=[quote(agreement["id"])])
    assert 'name="revoked_at' not in client.get(change).content.decode()
    response = client.post(reverse("admin:trials_sharingagreement_changelist"),
                           {"action": "revoke", "_selected_action": [agreement["id"]]})
    assert response.status_code == 302
    assert SharingAgreement.objects.get().revoked_at is not None
    assert uni.get(package).status_code == 404
    assert len(uni.get("/api/v1/datasets/").json()["results"]) == 0


def test_admin_creates_and_changes_agreements_through_the_services(
        collected, operator, sme, hub, category, receiver, university, people,
        django_capture_on_commit_callbacks):
    client = staff_client(people)
    add = reverse("admin:trials_sharingagreement_add")
    form = {"operator": operator.pk, "university": university.pk, "hub": hub.pk,
            "title": "Console-made", "categories": [category.pk], "anonymize": "on",
            "embargo_days": 0, "license": "CC-BY-4.0", "endpoint_url": receiver.url,
            "valid_from_0": "2020-01-01", "valid_from_1": "00:00:00",
            "versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0,
            "consents-TOTAL_FORMS": 0, "consents-INITIAL_FORMS": 0}
    response = client.post(add, form, follow=True)
    assert response.status_code == 200, response.content
    agreement = SharingAgreement.objects.get()
    assert agreement.signing_secret.startswith("whsec_")
    assert agreement.signing_secret.encode() in response.content  # shown once, here
    assert AgreementVersion.objects.get().number == 1
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement.pk)

    change = reverse("admin:trials_sharingagreement_change", args=[agreement.pk])
    response = client.post(change, {**form, "anonymize": "", "title": "Console-made",
                                     "versions-TOTAL_FORMS": 1, "versions-INITIAL_FORMS": 1,
                                     "versions-0-id": AgreementVersion.objects.get().pk,
                                     "versions-0-agreement": agreement.pk,
                                     "consents-TOTAL_FORMS": 1, "consents-INITIAL_FORMS": 1,
                                     "consents-0-id": Consent.objects.get().pk,
                                     "consents-0-agreement": agreement.pk})
    assert response.status_code == 302, response.content
    agreement.refresh_from_db()
    assert (agreement.version, agreement.anonymize) == (2, False)
    assert Consent.objects.get().version.number == 1  # bound to what it was given under
    assert agreement.signing_secret.encode() not in client.get(change).content


@pytest.mark.parametrize("model", [Trial, Consent, StandingConsent, DatasetRelease,
                                   DeliveryLog])
def test_records_are_read_only_in_the_console(model, collected, operator, sme, hub, receiver,
                                              people, django_capture_on_commit_callbacks):
    agreement = make_agreement(key_client(operator), receiver, hub, embargo_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
        key_client(sme).post(f"/api/v1/agreements/{agreement['id']}/standing-consent/")
    row = model.objects.first()
    client = staff_client(people)
    info = (model._meta.app_label, model._meta.model_name)
    delete = reverse("admin:{}_{}_delete".format(*info), args=[row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:{}_{}_change".format(*info), args=[row.pk])
    assert client.get(change).status_code == 200  # viewable
    assert client.post(change, {}).status_code == 403
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    client.post(changelist, {"action": "delete_selected", "_selected_action": [row.pk],
                             "post": "yes"})
    assert model.objects.filter(pk=row.pk).exists()
