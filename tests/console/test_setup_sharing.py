"""The console's sharing agreements: create (the signing secret shown once), change (a new
version when a term changes), revoke, and the consents listed per agreement."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import CategoryFactory, ConsentFactory, TrialFactory
from trials.models import SharingAgreement

from .test_setup_world import agreement_form, make_agreement

pytestmark = pytest.mark.django_db


@pytest.fixture
def agreement(operator, university, hub, category):
    return make_agreement(operator, university, hub, category)


def test_create_shows_the_signing_secret_once(console_member, university, hub, category):
    response = console_member.post(
        reverse("console:agreement-create"),
        agreement_form(university=university, hub=hub, category=category),
    )
    assert response.status_code == 302
    agreement = SharingAgreement.objects.get()
    assert (agreement.university, agreement.hub, agreement.embargo_days) == (university, hub, 30)
    assert list(agreement.categories.all()) == [category]
    page = console_member.get(response["Location"])
    assert agreement.signing_secret.startswith("whsec_")
    assert agreement.signing_secret.encode() in page.content
    again = console_member.get(response["Location"])
    assert again.status_code == 200 and agreement.signing_secret.encode() not in again.content


def test_create_refusals_are_shown_at_their_fields(console_member, university, hub, category):
    response = console_member.post(
        reverse("console:agreement-create"),
        agreement_form(
            university=university,
            hub=hub,
            category=category,
            endpoint_url="https://169.254.169.254/hook",
        ),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["endpoint_url"]
    assert not SharingAgreement.objects.exists()


def test_the_hub_is_the_hubs_wall_clock(console_member, university, hub, category):
    console_member.post(
        reverse("console:agreement-create"),
        agreement_form(
            university=university, hub=hub, category=category, valid_from="2026-01-05T09:00"
        ),
    )
    agreement = SharingAgreement.objects.get()
    assert timezone.localtime(agreement.valid_from, timezone.get_fixed_timezone(480)).hour == 9


def test_another_operators_agreement_is_not_found(
    console_admin, other_operator, university, category
):
    from tests.factories import HubFactory

    theirs = make_agreement(
        other_operator, university, HubFactory(operator=other_operator, slug="theirs"), category
    )
    for name in ("console:agreement", "console:agreement-revoke"):
        url = reverse(name, args=[theirs.pk])
        assert console_admin.post(url, {}).status_code == 404
    assert console_admin.get(reverse("console:agreement", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    page = console_admin.get(reverse("console:agreements"))
    assert reverse("console:agreement", args=[theirs.pk]).encode() not in page.content


def test_changing_a_term_makes_a_new_version(console_member, agreement, university, hub, category):
    url = reverse("console:agreement", args=[agreement.pk])
    same = agreement_form(university=university, hub=hub, category=category, title="Renamed only")
    console_member.post(url, same)
    agreement.refresh_from_db()
    assert (agreement.title, agreement.version) == ("Renamed only", 1)
    other = CategoryFactory(name="Robots", slug="robots")
    response = console_member.post(
        url, {**same, "categories": [category.slug, other.slug], "embargo_days": "60"}, follow=True
    )
    agreement.refresh_from_db()
    assert (agreement.version, agreement.embargo_days) == (2, 60)
    assert agreement.versions.count() == 2
    assert b"version 2" in response.content


def test_consents_are_listed_with_version_and_revocation(console_member, agreement, sme, equipment):
    from tests.fixtures.world import local, make_booking

    booking = make_booking(equipment, sme, local(-3, 9), local(-3, 11), status="completed")
    active = ConsentFactory(agreement=agreement, trial=TrialFactory(booking=booking))
    booking2 = make_booking(equipment, sme, local(-2, 9), local(-2, 11), status="completed")
    revoked = ConsentFactory(
        agreement=agreement, trial=TrialFactory(booking=booking2), revoked_at=timezone.now()
    )
    page = console_member.get(reverse("console:agreement", args=[agreement.pk]))
    consents = list(page.context["consents"])
    assert {c.pk for c in consents} == {active.pk, revoked.pk}
    assert all(c.version.number == 1 for c in consents)
    assert b"Precision Parts" in page.content
    assert page.content.count(b"Revoked on") == 1


def test_revoke_ends_the_agreement(console_member, agreement):
    response = console_member.post(
        reverse("console:agreement-revoke", args=[agreement.pk]), follow=True
    )
    assert response.status_code == 200
    agreement.refresh_from_db()
    assert agreement.revoked_at is not None
    assert b"Revoke the agreement" not in response.content  # no more change or revoke forms
