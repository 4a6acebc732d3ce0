"""Sign-up registers an unverified SME (or joins the organisation that invited the
address); e-mail verification is mandatory; admins invite, members cannot; invitations
are accepted once, by the invited address."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from organizations.models import Invitation, Membership, Organization
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, credit_code

from .conftest import logged_in

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


def sign_up(client, email, **extra):
    return client.post(reverse("account_signup"), {
        "email": email, "password1": PASSWORD, "password2": PASSWORD, **extra})


def confirmation_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body).group(1)


def test_sign_up_registers_an_unverified_sme(client):
    code = credit_code(4242)
    response = sign_up(client, "founder@newco.test", organization_name="NewCo Robotics",
                       credit_code=code.lower())
    assert response.status_code == 302
    user = get_user_model().objects.get(email="founder@newco.test")
    membership = Membership.objects.get(user=user)
    org = membership.organization
    assert (org.name, org.kind, org.verified, org.credit_code) == (
        "NewCo Robotics", "sme", False, code)
    assert membership.role == Membership.Role.ADMIN and org.slug == "newco-robotics"
    # Mandatory verification: not logged in until the address is confirmed.
    assert len(mail.outbox) == 1 and "founder@newco.test" in mail.outbox[0].to
    assert client.get(reverse("bookings:list")).status_code == 302
    link = confirmation_link(mail.outbox[0])
    client.post(link)
    assert EmailAddress.objects.get(user=user).verified
    login = client.post(reverse("account_login"), {"login": "founder@newco.test",
                                                   "password": PASSWORD})
    assert login.status_code == 302 and login["Location"] == "/catalog/"
    page = client.get(reverse("organizations:page"))
    assert b"Waiting for verification by platform staff" in page.content
    assert b"NewCo Robotics is waiting for verification" in page.content


def test_sign_up_needs_an_organisation(client):
    response = sign_up(client, "someone@example.test")
    assert "organization_name" in response.context["form"].errors
    response = sign_up(client, "someone@example.test", organization_name="X Co",
                       credit_code="91110000ABCDEFGHI0")
    assert response.context["form"].errors["credit_code"]
    taken = OrganizationFactory(name="Old", slug="old", credit_code=credit_code(7))
    response = sign_up(client, "someone@example.test", organization_name="Y Co",
                       credit_code=taken.credit_code)
    assert "already registered" in response.context["form"].errors["credit_code"][0]
    assert not get_user_model().objects.filter(email="someone@example.test").exists()


def test_two_companies_whose_names_slugify_alike_get_two_slugs(client):
    sign_up(client, "a@one.test", organization_name="Same Name")
    sign_up(client, "b@two.test", organization_name="Same-Name")
    slugs = sorted(Organization.objects.values_list("slug", flat=True))
    assert len(slugs) == 2 and slugs[0] == "same-name" and slugs[1].startswith("same-name-")
    sign_up(client, "c@three.test", organization_name="精密零件")
    assert Organization.objects.get(name="精密零件").slug.startswith("sme")


def test_a_registered_name_is_refused_at_its_field_whatever_the_case(client):
    OrganizationFactory(name="Precision Parts", slug="precision-parts")
    response = sign_up(client, "copy@cat.test", organization_name="  PRECISION parts ")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "already registered" in errors["organization_name"][0]
    assert "credit_code" not in errors
    assert Organization.objects.count() == 1
    assert not get_user_model().objects.filter(email="copy@cat.test").exists()


def test_a_registered_credit_code_is_refused_however_it_is_typed(client):
    code = credit_code(99)
    OrganizationFactory(name="First", slug="first", credit_code=code)
    spaced = " ".join([code[:6], code[6:12], code[12:]]).lower()
    response = sign_up(client, "second@co.test", organization_name="Second",
                       credit_code=spaced)
    assert "already registered" in response.context["form"].errors["credit_code"][0]
    assert Organization.objects.count() == 1


def test_the_database_refuses_a_second_name_in_another_case(db):
    from django.db import IntegrityError, transaction

    OrganizationFactory(name="Acme", slug="acme")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrganizationFactory(name="ACME", slug="acme-2")


def invite(client, email, role="member"):
    return client.post(reverse("organizations:invite"), {"email": email, "role": role})


def test_admin_invites_and_the_invited_person_signs_up(client_sme, sme, client,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail goes after commit
        response = invite(client_sme, "New.Colleague@precision.test")
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "new.colleague@precision.test"
    assert len(mail.outbox) == 1 and invitation.token in mail.outbox[0].body
    assert "Precision Parts" in mail.outbox[0].subject
    page = client_sme.get(reverse("organizations:page"))
    assert b"new.colleague@precision.test" in page.content and b"Withdraw" in page.content
    # The invited person opens the link, then signs up with the invited address.
    link = reverse("organizations:invitation", args=[invitation.token])
    assert b"Precision Parts invites new.colleague@precision.test" in client.get(link).content
    signup_page = client.get(reverse("account_signup"))
    assert b"Precision Parts invited new.colleague@precision.test" in signup_page.content
    assert sign_up(client, "new.colleague@precision.test").status_code == 302
    user = get_user_model().objects.get(email="new.colleague@precision.test")
    assert Membership.objects.get(user=user).organization == sme
    assert Membership.objects.get(user=user).role == Membership.Role.MEMBER
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert b"not valid any more" in client.get(link).content


def test_logged_in_person_accepts(client_sme, sme):
    invite(client_sme, "joiner@example.test", role="admin")
    invitation = Invitation.objects.get()
    joiner = UserFactory(email="joiner@example.test")
    client = logged_in(joiner)
    page = client.get(reverse("organizations:invitation", args=[invitation.token]))
    assert b"Join Precision Parts" in page.content
    client.post(reverse("organizations:accept", args=[invitation.token]))
    assert Membership.objects.get(user=joiner).role == Membership.Role.ADMIN


def test_invitation_is_for_its_address_only(client_sme, client_other, other_user):
    invite(client_sme, "someone.else@example.test")
    token = Invitation.objects.get().token
    response = client_other.post(reverse("organizations:accept", args=[token]), follow=True)
    assert b"sent to another e-mail address" in response.content
    assert Membership.objects.filter(user=other_user).count() == 1


def test_members_cannot_invite_and_admins_withdraw(client_sme, member_user, sme):
    member = logged_in(member_user)
    page = member.get(reverse("organizations:page"))
    assert b"Send invitation" not in page.content
    response = member.post(reverse("organizations:invite"),
                           {"email": "x@example.test", "role": "member"}, follow=True)
    assert b"Only your organisation&#x27;s administrators" in response.content
    assert not Invitation.objects.exists()
    invite(client_sme, "x@example.test")
    invitation = Invitation.objects.get()
    client_sme.post(reverse("organizations:revoke-invitation", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None and not invitation.is_open()


def test_invite_errors_are_shown_on_the_form(client_sme, member_user):
    response = invite(client_sme, member_user.email)
    assert response.context["form"].errors["email"] == [
        "This person is already a member of your organisation."]
    response = invite(client_sme, "not-an-address")
    assert "email" in response.context["form"].errors


def test_reinviting_renews_the_open_invitation(client_sme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(client_sme, "again@example.test")
    first = Invitation.objects.get()
    Invitation.objects.filter(pk=first.pk).update(expires=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        invite(client_sme, "again@example.test")
    renewed = Invitation.objects.get()
    assert renewed.pk == first.pk and renewed.is_open() and len(mail.outbox) == 2


def test_member_list_queries_do_not_grow(client_sme, sme):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client_sme.get(reverse("organizations:page")).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(4):
        MembershipFactory(organization=sme)
        invite(client_sme, f"p{Invitation.objects.count()}@example.test")
    five = count()
    for _ in range(15):
        MembershipFactory(organization=sme)
        invite(client_sme, f"p{Invitation.objects.count()}@example.test")
    assert count() == five
