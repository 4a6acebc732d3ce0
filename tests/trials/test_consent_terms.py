"""Invariant 7 through the doors people use: a consent given under terms A is never released
under looser terms, whichever term the operator changes afterwards through the API; a
change of terms makes a new version, tells the SME and waits for its consent where there is
no stricter reading; standing consent never grows to categories added later."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from core.models import OutboxMessage
from equipment.models import Category, Hub
from organizations.models import Membership
from tests.factories import UserFactory
from tests.fixtures.links import SITE, link_in
from tests.fixtures.peers import Reply, complete, results_csv
from tests.fixtures.world import key_client, local, make_equipment, make_org
from tests.trials.test_sharing import EMBARGO, after_embargo, collected, consent, university
from trials import sharing, terms
from trials.models import AgreementVersion, Consent, DatasetRelease, StandingConsent, Trial
from trials.tasks import release_due_datasets

pytestmark = pytest.mark.django_db
__all__ = ["collected", "university"]  # fixtures shared with test_sharing

TERMS_A = {"anonymize": True, "shift_timestamps": True, "embargo_days": EMBARGO,
           "license": "CC-BY-4.0", "categories": ["cnc"]}


@pytest.fixture
def sme_admin(sme):
    user = UserFactory(email="boss@precision.test")
    Membership.objects.create(user=user, organization=sme, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def robots(db):
    return Category.objects.create(name="Robots", slug="robots")


@pytest.fixture
def second_hub(operator):
    return Hub.objects.create(operator=operator, name="Zhongguancun", slug="zhongguancun",
                              timezone="Asia/Shanghai")


def agreement_a(operator, receiver, hub) -> dict:
    body = {"university": "tsinghua", "hub": hub.slug, "endpoint_url": receiver.url,
            "valid_from": "2020-01-01T00:00:00+08:00", **TERMS_A}
    r = key_client(operator).post("/api/v1/agreements/", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["version"] == 1
    return r.json()


def patch(operator, agreement_id: int, body: dict) -> dict:
    r = key_client(operator).patch(f"/api/v1/agreements/{agreement_id}/", body, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def delivered_package(university, receiver) -> tuple[dict, str, dict, str]:
    """(datapackage.json, measurements.csv, webhook payload data, everything as text) of
    the one release the university received."""
    (message,) = receiver.received
    data = json.loads(message["body"])["data"]
    client = key_client(university)
    (listed,) = client.get("/api/v1/datasets/").json()["results"]
    blob = b"".join(client.get(listed["package_url"]).streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(blob))
    descriptor = json.loads(archive.read("datapackage.json"))
    csv_text = archive.read("measurements.csv").decode()
    everything = (message["body"] + json.dumps(listed) + csv_text
                  + archive.read("datapackage.json").decode())
    return descriptor, csv_text, data, everything


def assert_under_terms_a(trial, university, receiver, sme):
    """The release that went out is as strict as terms A in every respect."""
    descriptor, csv_text, data, everything = delivered_package(university, receiver)
    booking = trial.booking
    # Anonymised: neither the SME nor its trial plan.
    for secret in (sme.name, sme.slug, booking.purpose):
        assert secret not in everything
    assert data["trial"]["id"] != f"trial-{trial.pk}"
    # Timestamps shifted: seconds from the start, no calendar times.
    assert csv_text.splitlines()[0] == "seconds_from_start,metric,value,unit"
    assert "start" not in data["trial"] and booking.start.date().isoformat() not in csv_text
    # The licence consented to.
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0" and data["license"] == "CC-BY-4.0"
    release = DatasetRelease.objects.get(status="delivered")
    # Not before the consented embargo.
    assert release.delivered_at >= booking.end + timedelta(days=EMBARGO)
    assert release.terms["anonymize"] and release.terms["shift_timestamps"]
    assert release.terms["embargo_days"] == EMBARGO


def assert_nothing_out(university, receiver):
    assert receiver.received == []
    assert len(key_client(university).get("/api/v1/datasets/").json()["results"]) == 0


# Each term changed, one at a time, after the SME consented under terms A; then what
# reaches the university (if anything) is no looser than A.
CHANGES = {
    "anonymize": ({"anonymize": False}, "strict"),
    "shift_timestamps": ({"shift_timestamps": False}, "strict"),
    "embargo_days": ({"embargo_days": 0}, "strict"),
    "all_three": ({"anonymize": False, "shift_timestamps": False, "embargo_days": 0}, "strict"),
    "license": ({"license": "CC0-1.0"}, terms.LICENSE_CHANGED),
    "categories_widened": ({"categories": ["cnc", "robots"]}, "strict"),
    "university": ({"university": "beihang"}, terms.RECIPIENT_CHANGED),
    "hub": ({"hub": "zhongguancun"}, "not_covered"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_consent_is_never_released_under_looser_terms(
        change, collected, operator, sme, sme_admin, hub, second_hub, robots, university,
        receiver, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = SITE
    body, expected = change
    make_org("beihang", "university")
    agreement = agreement_a(operator, receiver, hub)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])

    with django_capture_on_commit_callbacks(execute=True):
        changed = patch(operator, agreement["id"], body)
    # A new version; the consent stays bound to version 1 and its terms, as the API says.
    assert changed["version"] == 2
    (given,) = key_client(sme).get(f"/api/v1/trials/{collected.pk}/consents/").json()
    assert given["agreement_version"] == 1 and given["current"] is False
    assert {k: given["terms"][k] for k in TERMS_A} == TERMS_A
    assert (given["terms"]["hub"], given["terms"]["university"]) == ("yizhuang", "tsinghua")
    # The SME's administrator is told, once, and asked to consent to the new terms.
    told = [m for m in mail.outbox if m.to == ["boss@precision.test"]]
    assert [m.extra_headers["X-Testbed-Event"] for m in told] == ["agreement.terms_changed"]
    assert link_in(told[0].body) == f"{SITE}/trials/"  # where its trials are, to decide

    # Right away (inside the consented embargo) nothing goes out, whatever changed.
    with django_capture_on_commit_callbacks(execute=True):
        release_due_datasets()
    assert_nothing_out(university, receiver)

    with after_embargo(collected), django_capture_on_commit_callbacks(execute=True):
        release_due_datasets()
    if expected == "strict":
        assert_under_terms_a(collected, university, receiver, sme)
    elif expected == "not_covered":
        assert_nothing_out(university, receiver)
        assert not DatasetRelease.objects.exclude(status="withdrawn").exists()
    else:  # waits for the SME's consent to the new terms
        assert_nothing_out(university, receiver)
        release = DatasetRelease.objects.get()
        assert (release.status, release.held, release.sha256) == ("pending", expected, "")


def test_consent_to_the_new_terms_releases_under_them(
        collected, operator, sme, sme_admin, hub, university, receiver,
        django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    sme_client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        consent(sme_client, collected, agreement["id"])
    patch(operator, agreement["id"], {"license": "CC0-1.0", "embargo_days": 0})
    with after_embargo(collected), django_capture_on_commit_callbacks(execute=True):
        release_due_datasets()
        assert_nothing_out(university, receiver)
        renewed = consent(sme_client, collected, agreement["id"])
    assert renewed["agreement_version"] == 2 and renewed["current"] is True
    assert renewed["terms"]["license"] == "CC0-1.0"
    # The earlier consent is replaced, not left active beside it.
    assert Consent.objects.filter(revoked_at__isnull=True).get().version.number == 2
    descriptor, _csv, data, _all = delivered_package(university, receiver)
    assert descriptor["licenses"][0]["name"] == "CC0-1.0" and data["license"] == "CC0-1.0"


def test_changes_that_are_no_terms_make_no_version(collected, operator, sme, hub, receiver,
                                                   django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    changed = patch(operator, agreement["id"], {"title": "Renamed",
                                                "valid_until": "2099-01-01T00:00:00Z"})
    assert changed["version"] == 1
    assert AgreementVersion.objects.count() == 1
    shown = key_client(operator).get(f"/api/v1/agreements/{agreement['id']}/").json()
    assert shown["terms"] == {**TERMS_A, "hub": "yizhuang", "university": "tsinghua"}
    # Making it stricter is still a change of terms: a new version.
    assert patch(operator, agreement["id"], {"embargo_days": 60})["version"] == 2


def test_standing_consent_never_grows_to_categories_added_later(
        collected, operator, sme, hub, robots, university, receiver, gateway,
        django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    r = key_client(sme).post(f"/api/v1/agreements/{agreement['id']}/standing-consent/")
    assert r.status_code == 204
    patch(operator, agreement["id"], {"categories": ["cnc", "robots"]})

    # A robot trial of the same SME, collected after the widening.
    arm = make_equipment(hub, robots, "arm-1", result_source_kind="http",
                         result_source_url=gateway.url, result_source_secret="s3cret")
    from bookings import services as booking_services

    booking = booking_services.create_booking(
        equipment_id=arm.pk, organization=sme, start=local(2, 9), end=local(2, 11),
        purpose="robot trial")
    booking_services.check_in_booking(booking_id=booking.pk, organization=operator,
                                      now=booking.start)
    gateway.reply(Reply(body=results_csv(booking.start, rows=3)))
    with (time_machine.travel(booking.end + timedelta(minutes=1), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        complete(booking, operator)
    robot_trial = Trial.objects.get(pk=booking.pk)
    assert robot_trial.status == Trial.Status.COLLECTED

    with (time_machine.travel(booking.end + timedelta(days=EMBARGO + 1), tick=True),
          django_capture_on_commit_callbacks(execute=True)):
        release_due_datasets()
    # The CNC trial (in scope when the standing consent was given) went out under version 1;
    # the robot trial was not consented to.
    assert not robot_trial.consents.exists()
    (release,) = DatasetRelease.objects.all()
    assert release.trial_id == collected.pk and release.status == "delivered"
    assert collected.consents.get().version.number == 1
    assert len(receiver.received) == 1


def test_standing_consent_to_new_terms_replaces_the_old(collected, operator, sme, hub,
                                                        receiver):
    agreement = agreement_a(operator, receiver, hub)
    client = key_client(sme)
    client.post(f"/api/v1/agreements/{agreement['id']}/standing-consent/")
    patch(operator, agreement["id"], {"embargo_days": 1})
    assert client.post(f"/api/v1/agreements/{agreement['id']}/standing-consent/"
                       ).status_code == 204
    active = StandingConsent.objects.get(revoked_at__isnull=True)
    assert active.version.number == 2 and StandingConsent.objects.count() == 2


# --- the portal: notice of new terms, and who may consent ------------------------------

def portal(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sharing_section(client, trial) -> str:
    html = client.get(reverse("trials:detail", args=[trial.pk])).content.decode()
    return html[html.index('id="sharing"'):]


def test_portal_asks_for_consent_to_changed_terms(collected, operator, sme, sme_admin, hub,
                                                  receiver, django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    client = portal(sme_admin)
    grant = reverse("trials:grant", args=[collected.pk])
    client.post(grant, {"agreement": agreement["id"], "agree": "on"})
    assert "terms changed" not in sharing_section(client, collected)
    patch(operator, agreement["id"], {"anonymize": False})
    section = sharing_section(client, collected)
    assert "The agreement's terms changed after you consented." in section
    assert "Not anonymised: your organisation&#x27;s name and the trial plan are included." \
        in section  # the new terms are shown
    assert 'id="renew-' in section and "Consent to the new terms" in section
    client.post(grant, {"agreement": agreement["id"], "agree": "on"})
    assert Consent.objects.get(revoked_at__isnull=True).version.number == 2
    assert "terms changed after you consented" not in sharing_section(client, collected)


@pytest.fixture
def sme_member(sme):
    user = UserFactory(email="engineer@precision.test")
    Membership.objects.create(user=user, organization=sme, role=Membership.Role.MEMBER)
    return user


def test_a_member_sees_the_terms_but_the_admin_decides(collected, operator, sme, sme_member,
                                                       hub, receiver):
    agreement = agreement_a(operator, receiver, hub)
    client = portal(sme_member)
    section = sharing_section(client, collected)
    assert "CC-BY-4.0" in section and 'name="agree"' not in section
    assert "Your organisation's administrator decides" in section
    for url in (reverse("trials:grant", args=[collected.pk]),
                reverse("trials:standing-grant", args=[collected.pk])):
        response = client.post(url, {"agreement": agreement["id"], "agree": "on"}, follow=True)
        assert b"Only an administrator of your organisation" in response.content
    assert not Consent.objects.exists() and not StandingConsent.objects.exists()


def test_members_may_consent_to_their_own_trials_when_the_organisation_allows(
        collected, operator, sme, sme_member, sme_admin, hub, receiver):
    sme.members_may_consent = True
    sme.save(update_fields=["members_may_consent"])
    agreement = agreement_a(operator, receiver, hub)
    client = portal(sme_member)
    grant = reverse("trials:grant", args=[collected.pk])
    # A colleague's trial (here: booked with the organisation's API key): no button, and
    # the consent is refused.
    section = sharing_section(client, collected)
    assert f'id="agree-{agreement["id"]}"' not in section
    assert "Your organisation's administrator decides" in section
    response = client.post(grant, {"agreement": agreement["id"], "agree": "on"}, follow=True)
    assert b"Only an administrator of your organisation" in response.content
    assert not Consent.objects.exists()

    # The member's own trial (they lead it): they may consent to it.
    booking = collected.booking
    booking.trial_lead = sme_member
    booking.save(update_fields=["trial_lead"])
    section = sharing_section(client, collected)
    assert f'id="agree-{agreement["id"]}"' in section
    assert f'id="standing-{agreement["id"]}"' not in section  # standing stays the admin's
    client.post(grant, {"agreement": agreement["id"], "agree": "on"})
    given = Consent.objects.get()
    assert given.granted_by == sme_member
    response = client.post(reverse("trials:standing-grant", args=[collected.pk]),
                           {"agreement": agreement["id"], "agree": "on"}, follow=True)
    assert b"Only an administrator of your organisation" in response.content
    assert not StandingConsent.objects.exists()
    # An admin's standing consent cannot be stopped by the member either.
    sharing.set_standing_consent(organization=sme, agreement_id=agreement["id"],
                                 by_user=sme_admin)
    response = client.post(reverse("trials:standing-revoke",
                                   args=[collected.pk, agreement["id"]]), follow=True)
    assert b"Only an administrator of your organisation" in response.content
    assert StandingConsent.objects.get().revoked_at is None
    # Revoking a consent is the administrator's, even the member's own: no button, refused.
    revoke = reverse("trials:revoke", args=[collected.pk, given.pk])
    section = sharing_section(client, collected)
    assert revoke not in section
    assert "Only your organisation's administrator can revoke a consent" in section
    response = client.post(revoke, follow=True)
    assert b"Only an administrator of your organisation" in response.content
    given.refresh_from_db()
    assert given.revoked_at is None
    admin = portal(sme_admin)
    assert revoke in sharing_section(admin, collected)
    admin.post(revoke)
    given.refresh_from_db()
    assert given.revoked_at is not None and given.revoked_by == sme_admin


def test_a_member_consents_only_to_trials_they_requested_or_lead(
        collected, operator, sme, sme_member, sme_admin, hub, receiver):
    """The service itself (as every door calls it): with the organisation's permission a
    member consents to a trial they requested or lead, never to a colleague's, and never
    revokes."""
    from core.errors import Forbidden

    sme.members_may_consent = True
    sme.save(update_fields=["members_may_consent"])
    agreement = agreement_a(operator, receiver, hub)
    colleague = UserFactory(email="colleague@precision.test")
    Membership.objects.create(user=colleague, organization=sme, role=Membership.Role.MEMBER)
    booking = collected.booking
    booking.requested_by, booking.trial_lead = colleague, colleague
    booking.save(update_fields=["requested_by", "trial_lead"])
    with pytest.raises(Forbidden) as refused:
        sharing.grant_consent(trial=collected, agreement_id=agreement["id"], organization=sme,
                              by_user=sme_member)
    assert refused.value.code == "consent_needs_admin"
    assert not Consent.objects.exists()

    booking.requested_by = sme_member  # requested by the member, led by the colleague
    booking.save(update_fields=["requested_by"])
    given = sharing.grant_consent(trial=collected, agreement_id=agreement["id"],
                                  organization=sme, by_user=sme_member)
    assert given.granted_by == sme_member
    for member in (sme_member, colleague):
        with pytest.raises(Forbidden) as refused:
            sharing.revoke_consent(consent=given, organization=sme, by_user=member)
        assert refused.value.code == "consent_needs_admin"
    given.refresh_from_db()
    assert given.revoked_at is None
    # Without the organisation's permission, not even their own trial.
    sme.members_may_consent = False
    sme.save(update_fields=["members_may_consent"])
    with pytest.raises(Forbidden):
        sharing.grant_consent(trial=collected, agreement_id=agreement["id"], organization=sme,
                              by_user=colleague)
    sharing.revoke_consent(consent=given, organization=sme, by_user=sme_admin)
    given.refresh_from_db()
    assert given.revoked_at is not None


def test_the_service_refuses_a_member_with_a_stable_code(collected, operator, sme, sme_member,
                                                         hub, receiver):
    from core.errors import Forbidden

    agreement = agreement_a(operator, receiver, hub)
    with pytest.raises(Forbidden) as refused:
        sharing.grant_consent(trial=collected, agreement_id=agreement["id"], organization=sme,
                              by_user=sme_member)
    assert refused.value.code == "consent_needs_admin"
    with pytest.raises(Forbidden) as refused:
        sharing.set_standing_consent(organization=sme, agreement_id=agreement["id"],
                                     by_user=sme_member)
    assert refused.value.code == "consent_needs_admin"
    assert OutboxMessage.objects.filter(event_type="agreement.terms_changed").count() == 0


def test_revoking_the_replaced_consent_keeps_the_new_one(
        collected, operator, sme, hub, university, receiver,
        django_capture_on_commit_callbacks):
    agreement = agreement_a(operator, receiver, hub)
    client = key_client(sme)
    with django_capture_on_commit_callbacks(execute=True):
        first = consent(client, collected, agreement["id"])
    patch(operator, agreement["id"], {"license": "CC0-1.0"})
    with after_embargo(collected):
        with django_capture_on_commit_callbacks(execute=True):
            release_due_datasets()  # held: the licence changed
        assert DatasetRelease.objects.get().held == terms.LICENSE_CHANGED
        consent(client, collected, agreement["id"])  # replaces the first (not sent yet)
        r = client.delete(f"/api/v1/trials/{collected.pk}/consents/{first['id']}/")
        assert r.status_code == 200
        assert DatasetRelease.objects.get().status == "pending"
        with django_capture_on_commit_callbacks(execute=True):
            release_due_datasets()
    # The consent to the new licence stands, and the release went out under it.
    assert DatasetRelease.objects.get().status == "delivered"
    assert len(receiver.received) == 1


def test_every_version_of_the_terms_is_listed_newest_first(collected, operator, sme, hub,
                                                           receiver, university):
    agreement = agreement_a(operator, receiver, hub)
    patch(operator, agreement["id"], {"anonymize": False})
    patch(operator, agreement["id"], {"embargo_days": 0})
    url = f"/api/v1/agreements/{agreement['id']}/versions/"
    for caller in (operator, university, sme):  # everyone who may read the agreement
        response = key_client(caller).get(url)
        assert response.status_code == 200, response.content
        versions = response.json()
        assert [v["version"] for v in versions] == [3, 2, 1]
        first = {**TERMS_A, "hub": "yizhuang", "university": "tsinghua"}
        assert versions[2]["terms"] == first
        assert versions[1]["terms"] == {**first, "anonymize": False}
        assert versions[0]["terms"] == {**first, "anonymize": False, "embargo_days": 0}
