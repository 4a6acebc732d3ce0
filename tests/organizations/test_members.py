"""Who belongs to an organisation, and in which role: the same rules through the portal's
members list, invitations and the admin console (one organisation per person, the roles of
the organisation's kind, at least one administrator kept)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.models import WebhookEndpoint
from core.services import create_endpoint
from organizations import services
from organizations.models import Membership, Organization
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

R = Membership.Role


def logged_in(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def seat(organization: Organization, role: str, email: str) -> Membership:
    return MembershipFactory(organization=organization, role=role,
                             user=UserFactory(email=email))


@pytest.fixture
def firm(db) -> Organization:
    return OrganizationFactory(kind=Organization.Kind.SME, name="Precision Parts")


@pytest.fixture
def boss(firm) -> Membership:
    return seat(firm, R.ADMIN, "boss@precision.test")


@pytest.fixture
def engineer(firm) -> Membership:
    return seat(firm, R.MEMBER, "engineer@precision.test")


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@platform.test", is_staff=True, is_superuser=True)


# --- the services --------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "roles"), [
    (Organization.Kind.SME, {R.ADMIN, R.MEMBER}),
    (Organization.Kind.UNIVERSITY, {R.ADMIN, R.MEMBER}),
    (Organization.Kind.FLAGSHIP, {R.ADMIN, R.OPERATOR, R.MEMBER}),
])
def test_each_kind_of_organisation_gives_its_own_roles(kind, roles, staff):
    organization = OrganizationFactory(kind=kind)
    for role in R.values:
        user = UserFactory()
        if role in roles:
            assert services.add_member(organization=organization, user=user, role=role,
                                       staff_user=staff).role == role
        else:
            with pytest.raises(ValidationFailed) as refused:
                services.add_member(organization=organization, user=user, role=role,
                                    staff_user=staff)
            assert refused.value.violations[0].code == "role_invalid"
            assert refused.value.violations[0].field == "role"
            assert not Membership.objects.filter(user=user).exists()


def test_a_person_belongs_to_one_organisation(firm, engineer, staff):
    flagship = OrganizationFactory(kind=Organization.Kind.FLAGSHIP, name="AutoWorks")
    with pytest.raises(ValidationFailed) as elsewhere:
        services.add_member(organization=flagship, user=engineer.user, role=R.OPERATOR,
                            staff_user=staff)
    violation = elsewhere.value.violations[0]
    assert (violation.code, violation.field) == ("member_elsewhere", "user")
    assert "Precision Parts" in violation.message
    with pytest.raises(ValidationFailed) as again:
        services.add_member(organization=firm, user=engineer.user, role=R.ADMIN,
                            staff_user=staff)
    assert again.value.violations[0].code == "already_member"
    assert list(Membership.objects.filter(user=engineer.user).values_list(
        "organization", "role")) == [(firm.pk, R.MEMBER)]


def test_only_staff_add_members_directly(firm, boss):
    with pytest.raises(Forbidden):
        services.add_member(organization=firm, user=UserFactory(), role=R.MEMBER,
                            staff_user=boss.user)


def test_an_administrator_changes_roles_and_keeps_one_administrator(firm, boss, engineer):
    with pytest.raises(Conflict) as last:
        services.change_member_role(organization=firm, membership_id=boss.pk,
                                    role=R.MEMBER, by_user=boss.user)
    assert last.value.code == "last_admin"
    services.change_member_role(organization=firm, membership_id=engineer.pk, role=R.ADMIN,
                                by_user=boss.user)
    # With a second administrator, the first may step down.
    services.change_member_role(organization=firm, membership_id=boss.pk, role=R.MEMBER,
                                by_user=boss.user)
    assert dict(Membership.objects.filter(organization=firm).values_list(
        "user__email", "role")) == {"boss@precision.test": R.MEMBER,
                                    "engineer@precision.test": R.ADMIN}


def test_members_change_nothing_and_other_organisations_are_not_found(firm, boss, engineer):
    with pytest.raises(Forbidden):
        services.change_member_role(organization=firm, membership_id=boss.pk,
                                    role=R.MEMBER, by_user=engineer.user)
    with pytest.raises(Forbidden):
        services.remove_member(organization=firm, membership_id=boss.pk,
                               by_user=engineer.user)
    stranger = seat(OrganizationFactory(), R.MEMBER, "someone@else.test")
    for membership_id in (stranger.pk, 2**70, "x", None):
        with pytest.raises(NotFound):
            services.remove_member(organization=firm, membership_id=membership_id,
                                   by_user=boss.user)
    assert Membership.objects.count() == 3
    assert Membership.objects.get(pk=boss.pk).role == R.ADMIN


def test_removing_and_leaving(firm, boss, engineer):
    with pytest.raises(Conflict) as last:
        services.remove_member(organization=firm, membership_id=boss.pk, by_user=boss.user)
    assert last.value.code == "last_admin"
    colleague = seat(firm, R.MEMBER, "colleague@precision.test")
    services.remove_member(organization=firm, membership_id=colleague.pk, by_user=boss.user)
    services.remove_member(organization=firm, membership_id=engineer.pk,
                           by_user=engineer.user)  # a member may leave
    assert list(Membership.objects.values_list("user__email", flat=True)) == [
        "boss@precision.test"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_administrators_stepping_down_at_once_leave_one(firm):
    from tests.bookings.test_concurrency import race

    admins = [seat(firm, R.ADMIN, f"admin{i}@precision.test") for i in range(2)]
    results = race(2, lambda i: services.change_member_role(
        organization=firm, membership_id=admins[i].pk, role=R.MEMBER, by_user=admins[i].user))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Membership"], results
    assert Membership.objects.filter(organization=firm, role=R.ADMIN).count() == 1


# --- the portal ----------------------------------------------------------------------------

def test_an_administrator_manages_members_on_the_organisation_page(firm, boss, engineer):
    client = logged_in(boss.user)
    page = client.get(reverse("organizations:page"))
    assert reverse("organizations:change-role", args=[engineer.pk]).encode() in page.content
    assert reverse("organizations:remove-member", args=[engineer.pk]).encode() in page.content

    response = client.post(reverse("organizations:change-role", args=[engineer.pk]),
                           {f"m{engineer.pk}-role": R.ADMIN})
    assert response.status_code == 302
    assert messages_of(response) == ["engineer@precision.test is now Administrator."]
    assert Membership.objects.get(pk=engineer.pk).role == R.ADMIN

    response = client.post(reverse("organizations:remove-member", args=[engineer.pk]))
    assert messages_of(response)[-1].startswith(
        "engineer@precision.test no longer belongs to Precision Parts; the invitations they "
        "sent are withdrawn.")
    assert not Membership.objects.filter(pk=engineer.pk).exists()


def test_the_portal_refuses_in_the_readers_language_and_changes_nothing(firm, boss, engineer):
    client = logged_in(boss.user, "zh-hans")
    response = client.post(reverse("organizations:remove-member", args=[boss.pk]))
    assert messages_of(response) == ["机构至少保留一名管理员：请先将另一名成员设为管理员。"]
    response = client.post(reverse("organizations:change-role", args=[engineer.pk]),
                           {f"m{engineer.pk}-role": R.OPERATOR})  # not an SME's role
    assert response.status_code == 302
    assert messages_of(response)[-1] == "该机构的角色为：管理员, 成员。"
    assert Membership.objects.get(pk=engineer.pk).role == R.MEMBER
    assert Membership.objects.filter(organization=firm).count() == 2


def test_members_see_no_controls_and_their_posts_are_refused(firm, boss, engineer):
    client = logged_in(engineer.user)
    page = client.get(reverse("organizations:page"))
    assert reverse("organizations:change-role", args=[boss.pk]).encode() not in page.content
    response = client.post(reverse("organizations:change-role", args=[boss.pk]),
                           {f"m{boss.pk}-role": R.MEMBER})
    assert messages_of(response) == ["Only your organisation's administrators may do this."]
    assert Membership.objects.get(pk=boss.pk).role == R.ADMIN


def test_another_organisations_member_is_not_found(firm, boss):
    stranger = seat(OrganizationFactory(), R.MEMBER, "someone@else.test")
    client = logged_in(boss.user)
    assert client.post(reverse("organizations:remove-member",
                               args=[stranger.pk])).status_code == 404
    assert client.post(reverse("organizations:change-role", args=[stranger.pk]),
                       {f"m{stranger.pk}-role": R.ADMIN}).status_code == 404
    assert Membership.objects.filter(pk=stranger.pk, role=R.MEMBER).exists()


def test_a_member_leaves(firm, boss, engineer):
    client = logged_in(engineer.user)
    page = client.get(reverse("organizations:page"))
    assert b"Leave the organisation" in page.content
    response = client.post(reverse("organizations:remove-member", args=[engineer.pk]))
    assert response["Location"] == reverse("bookings:catalog")
    assert messages_of(response) == ["You have left Precision Parts."]
    assert client.get(reverse("organizations:page")).status_code == 403  # belongs to none


def test_an_operators_administrator_invites_operators(db):
    flagship = OrganizationFactory(kind=Organization.Kind.FLAGSHIP, name="AutoWorks")
    admin = seat(flagship, R.ADMIN, "admin@autoworks.test")
    client = logged_in(admin.user)
    page = client.get(reverse("organizations:page"))
    assert page.status_code == 200
    assert b"Operator: runs the console and receives its e-mails" in page.content
    response = client.post(reverse("organizations:invite"),
                           {"email": "ops@autoworks.test", "role": R.OPERATOR})
    assert response.status_code == 302
    assert flagship.invitations.get().role == R.OPERATOR


def test_an_sme_is_not_offered_the_operator_role(firm, boss):
    client = logged_in(boss.user)
    page = client.get(reverse("organizations:page"))
    assert b'value="operator"' not in page.content
    response = client.post(reverse("organizations:invite"),
                           {"email": "x@precision.test", "role": R.OPERATOR})
    assert response.status_code == 200  # the form again, with the error at the field
    assert not firm.invitations.exists()


# --- the admin console ---------------------------------------------------------------------

def admin_url(view: str, *args) -> str:
    return reverse(f"admin:organizations_membership_{view}", args=args)


def test_the_admin_adds_members_through_the_service(firm, engineer, staff):
    client = logged_in(staff)
    flagship = OrganizationFactory(kind=Organization.Kind.FLAGSHIP, name="AutoWorks")
    response = client.post(admin_url("add"), {
        "user": engineer.user.pk, "organization": flagship.pk, "role": R.OPERATOR,
        "_save": "Save"})
    assert response.status_code == 302
    assert any("already belongs to Precision Parts" in m for m in messages_of(response))
    assert not Membership.objects.filter(organization=flagship).exists()

    response = client.post(admin_url("add"), {
        "user": UserFactory(email="new@precision.test").pk, "organization": firm.pk,
        "role": R.OPERATOR, "_save": "Save"})
    assert any("This organisation's roles are: Administrator, Member." in m
               for m in messages_of(response))
    assert not Membership.objects.filter(user__email="new@precision.test").exists()

    newcomer = UserFactory(email="ops@autoworks.test")
    response = client.post(admin_url("add"), {
        "user": newcomer.pk, "organization": flagship.pk, "role": R.OPERATOR,
        "_save": "Save"})
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer).organization == flagship


def test_the_admin_changes_and_removes_through_the_service(firm, boss, engineer, staff):
    client = logged_in(staff)
    response = client.post(admin_url("change", boss.pk), {"role": R.MEMBER, "_save": "Save"})
    assert any("at least one administrator" in m for m in messages_of(response))
    assert Membership.objects.get(pk=boss.pk).role == R.ADMIN

    other = OrganizationFactory()
    client.post(admin_url("change", engineer.pk), {
        "role": R.ADMIN, "organization": other.pk, "_save": "Save"})
    engineer.refresh_from_db()  # the role changed; the organisation is read-only
    assert (engineer.role, engineer.organization_id) == (R.ADMIN, firm.pk)

    client.post(admin_url("delete", boss.pk), {"post": "yes"})
    assert not Membership.objects.filter(pk=boss.pk).exists()
    response = client.post(admin_url("delete", engineer.pk), {"post": "yes"})
    assert any("at least one administrator" in m for m in messages_of(response))
    assert Membership.objects.filter(pk=engineer.pk).exists()
    assert b'value="delete_selected"' not in client.get(admin_url("changelist")).content


def test_the_organisation_page_in_the_admin_lists_members_read_only(firm, boss, staff):
    page = logged_in(staff).get(reverse("admin:organizations_organization_change",
                                        args=[firm.pk]))
    assert page.status_code == 200
    assert b"memberships-TOTAL_FORMS" in page.content
    assert admin_url("change", boss.pk).encode() in page.content
    assert b'name="memberships-0-role"' not in page.content  # nothing to edit here


# --- webhook endpoints belong to hub operators --------------------------------------------

def test_only_an_operator_has_webhook_endpoints_at_every_door(firm, staff):
    with pytest.raises(ValidationFailed) as refused:
        create_endpoint(organization=firm, data={"url": "https://hooks.example/in",
                                                 "event_types": ["booking.*"]})
    assert refused.value.violations[0].field == "organization"
    assert "hub operator" in refused.value.violations[0].message

    response = logged_in(staff).post(reverse("admin:core_webhookendpoint_add"), {
        "organization": firm.pk, "url": "https://hooks.example/in", "description": "",
        "event_types": '["booking.*"]', "active": "on", "_save": "Save"})
    # The form again, with the error at the field (which offers operators only).
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["organization"]
    assert not WebhookEndpoint.objects.exists()

    flagship = OrganizationFactory(kind=Organization.Kind.FLAGSHIP)
    endpoint = create_endpoint(organization=flagship, data={
        "url": "https://hooks.example/in", "event_types": ["booking.*"]})
    assert endpoint.pk is not None


# --- what a removed member leaves behind ---------------------------------------------------

def test_a_removed_member_hears_nothing_more_and_their_invitations_are_withdrawn(
        firm, boss, engineer, equipment):
    from bookings.notifications import sme_recipients
    from organizations.models import Invitation
    from tests.fixtures.world import local, make_booking

    booking = make_booking(equipment, firm, local(3, 9), local(3, 11), user=engineer.user)
    assert sme_recipients(booking) == ["engineer@precision.test"]
    engineer.role = R.ADMIN
    engineer.save()
    sent = Invitation.objects.create(organization=firm, email="friend@precision.test",
                                     role=R.ADMIN, invited_by=engineer.user,
                                     expires=booking.end)
    services.remove_member(organization=firm, membership_id=engineer.pk, by_user=boss.user)
    # The booking stays the SME's; its news goes to the administrators instead.
    assert sme_recipients(booking) == ["boss@precision.test"]
    sent.refresh_from_db()
    assert sent.revoked_at is not None


def test_a_legacy_role_is_shown_as_held_and_changing_nothing_keeps_it(firm, boss, engineer):
    Membership.objects.filter(pk=engineer.pk).update(role=R.OPERATOR)  # before roles by kind
    page = logged_in(boss.user).get(reverse("organizations:page")).content.decode()
    assert '<option value="operator" selected>' in page
    services.change_member_role(organization=firm, membership_id=engineer.pk,
                                role=R.OPERATOR, by_user=boss.user)  # unchanged: no error
    with pytest.raises(ValidationFailed):
        services.change_member_role(organization=firm, membership_id=boss.pk,
                                    role=R.OPERATOR, by_user=boss.user)
