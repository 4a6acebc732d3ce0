"""Who may open which portal page: the catalogue (search, equipment, hub, an equipment's
week) is public; anonymous visitors go to the login page for everything else, members of
other kinds of organisation are told what the portal is for, and another SME's booking
or trial is 'not found' (invariant 2) whatever the URL."""

from datetime import timedelta

import pytest
from django.urls import reverse

from organizations.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory

from .conftest import local, logged_in, make_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(equipment, sme, admin_user):
    start = local(2, 9)
    return make_booking(equipment, sme, start, start + timedelta(hours=2), user=admin_user)


def sme_pages(booking, trial):
    return [
        reverse("bookings:list"), reverse("bookings:detail", args=[booking.pk]),
        reverse("bookings:ics", args=[booking.pk]),
        reverse("bookings:book", args=[booking.equipment_id]),
        reverse("trials:list"), reverse("trials:detail", args=[trial.pk]),
        reverse("trials:csv", args=[trial.pk]), reverse("organizations:page"),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, booking, trial, equipment):
    for url in sme_pages(booking, trial):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url
    for url in (reverse("bookings:cancel", args=[booking.pk]),
                reverse("trials:grant", args=[trial.pk])):
        assert client.post(url).status_code == 302


def test_another_smes_booking_and_trial_are_not_found(client_other, booking, trial):
    for url in sme_pages(booking, trial)[1:3] + sme_pages(booking, trial)[5:7]:
        assert client_other.get(url).status_code == 404, url
    assert client_other.post(reverse("bookings:cancel", args=[booking.pk])).status_code == 404
    assert client_other.post(reverse("trials:grant", args=[trial.pk]),
                             {"agreement": 1, "agree": "on"}).status_code == 404
    assert client_other.post(reverse("trials:revoke", args=[trial.pk, 1])).status_code == 404
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_the_404_page_does_not_tell_whether_it_exists(client_other, booking):
    mine = client_other.get(reverse("bookings:detail", args=[booking.pk]))
    missing = client_other.get(reverse("bookings:detail", args=[booking.pk + 1000]))
    assert mine.status_code == missing.status_code == 404
    assert b"Precision" not in mine.content


def test_operators_and_universities_see_what_the_portal_is_for(booking, trial):
    for kind in ("flagship", "university"):
        org = OrganizationFactory(kind=kind)
        user = MembershipFactory(organization=org, role=Membership.Role.ADMIN).user
        client = logged_in(user)
        for url in sme_pages(booking, trial)[:-1]:
            response = client.get(url)
            assert response.status_code == 403, url
            assert b"This page is for members of an SME" in response.content
        # Their own organisation's page (members, invitations) is theirs too, without the
        # SME's consent rights and statements.
        page = client.get(reverse("organizations:page"))
        assert page.status_code == 200
        assert b"consent-rights-h" not in page.content
        assert b"account-h" not in page.content


def test_anonymous_visitors_browse_the_catalogue(client, equipment):
    for url in (reverse("bookings:catalog"), reverse("bookings:calendar", args=[equipment.pk]),
                reverse("catalog:equipment", args=[equipment.pk]),
                reverse("catalog:hub", args=[equipment.hub.slug])):
        assert client.get(url).status_code == 200, url


def test_catalog_pages_are_open_to_every_logged_in_user(equipment):
    user = MembershipFactory(organization=OrganizationFactory(university=True)).user
    client = logged_in(user)
    for url in (reverse("bookings:catalog"), reverse("catalog:equipment", args=[equipment.pk]),
                reverse("bookings:calendar", args=[equipment.pk])):
        assert client.get(url).status_code == 200, url


def test_posts_need_the_csrf_token(admin_user, booking):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("bookings:cancel", args=[booking.pk])).status_code == 403
    booking.refresh_from_db()
    assert booking.status == "confirmed"


@pytest.mark.parametrize("path", ["/trials/99999999999999999999999/",
                                  "/bookings/99999999999999999999999/"])
def test_ids_no_row_can_have_are_404(path, client):
    from tests.factories import MembershipFactory

    user = MembershipFactory(organization__kind="sme", organization__verified=True).user
    client.force_login(user)
    assert client.get(path).status_code == 404
