"""Accounts and production defaults: the admin login goes through allauth's rate limits
(per real client address behind the proxy), staff can be required to use MFA, production
refuses e-mail backends that write links to the log, demo endpoints follow DEBUG, and an
organisation can be suspended (API keys and portal refused, bookings kept)."""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
import sys
import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client
from django.urls import reverse

from bookings.models import Booking
from organizations import services
from organizations.models import Membership, Organization
from tests.factories import TEST_PASSWORD, MembershipFactory, UserFactory

from .test_hardening import PROJECT, production_env

PROBLEM = "application/problem+json"


# allauth counts login attempts per address and per account in the cache (Redis in the
# PostgreSQL run, where counts outlive a test): every test uses addresses and accounts of
# its own, so no test sees another's attempts and none is slowed by the suite's logins.

def fresh_address() -> str:
    return str(ipaddress.IPv4Address(random.randint(0x0A000001, 0x0AFFFFFE)))  # 10.x


def fresh_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.test"


def verified_user(**fields):
    user = UserFactory(email=fresh_email(), **fields)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def login(client: Client, email: str, password: str, **extra):
    extra.setdefault("REMOTE_ADDR", fresh_address())
    return client.post(reverse("account_login"), {"login": email, "password": password},
                       **extra)


# --- the admin login goes through allauth ---------------------------------------------------

@pytest.mark.django_db
def test_admin_login_page_is_allauths(client):
    response = client.get("/admin/login/?next=/admin/bookings/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fbookings%2F"
    # The admin index sends anonymous visitors the same way.
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_posting_a_password_to_the_admin_login_logs_no_one_in(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    response = client.post("/admin/login/", {"username": staff.email,
                                             "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/admin/").status_code == 302  # still anonymous


@pytest.mark.django_db
def test_an_open_redirect_through_admin_login_is_refused(client):
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


@pytest.mark.django_db
def test_staff_log_in_through_allauth_and_reach_the_admin(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    response = login(client, staff.email, TEST_PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login/").status_code == 302  # already in: on to the console


@pytest.mark.django_db
def test_a_portal_user_at_the_admin_login_is_told_it_is_for_staff(client):
    user = verified_user()
    client.force_login(user)
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 403
    assert b"platform staff" in response.content


@pytest.mark.django_db
def test_the_eleventh_failed_login_from_one_address_is_refused(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    address = {"REMOTE_ADDR": fresh_address()}
    for _ in range(10):  # different accounts: only the per-address limit counts
        response = login(client, fresh_email("guess"), "wrong-password", **address)
        assert response.status_code == 200
        assert "too_many_login_attempts" not in str(response.context["form"].errors.as_data())
    # The 11th, even with the right password, is refused without being checked.
    response = login(client, staff.email, TEST_PASSWORD, **address)
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert client.get("/admin/").status_code == 302
    # Another address is not locked out.
    other = Client()
    assert login(other, staff.email, TEST_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_behind_the_proxy_each_client_address_is_counted_apart(client, settings):
    """With one trusted proxy, the limit counts the client's address from X-Forwarded-For,
    not the proxy's (which every request shares)."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    staff = verified_user(is_staff=True, is_superuser=True)
    proxy = {"REMOTE_ADDR": fresh_address()}
    attacker, colleague = fresh_address(), fresh_address()
    for _ in range(10):
        login(client, fresh_email("guess"), "wrong", HTTP_X_FORWARDED_FOR=attacker, **proxy)
    assert b"Too many failed" in login(client, staff.email, TEST_PASSWORD,
                                       HTTP_X_FORWARDED_FOR=attacker, **proxy).content
    # A spoofed first hop does not help the attacker: the proxy appended the real one.
    spoofed = login(Client(), staff.email, TEST_PASSWORD,
                    HTTP_X_FORWARDED_FOR=f"{fresh_address()}, {attacker}", **proxy)
    assert b"Too many failed" in spoofed.content
    # Another client behind the same proxy logs in.
    assert login(Client(), staff.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR=colleague,
                 **proxy).status_code == 302


@pytest.mark.django_db
def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    staff = verified_user(is_staff=True, is_superuser=True)
    address = fresh_address()
    for _ in range(10):
        login(client, fresh_email("guess"), "wrong", REMOTE_ADDR=address,
              HTTP_X_FORWARDED_FOR=fresh_address())
    refused = login(Client(), staff.email, TEST_PASSWORD, REMOTE_ADDR=address,
                    HTTP_X_FORWARDED_FOR=fresh_address())
    assert b"Too many failed" in refused.content


# --- MFA for staff ------------------------------------------------------------------------

def open_after_reauthentication(client: Client, url: str):
    """Enrolling a factor asks for the password again (allauth), then opens."""
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": TEST_PASSWORD})
    assert response.status_code == 302
    return client.get(url)


def _current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


@pytest.mark.django_db
def test_staff_without_mfa_are_sent_to_enrol_when_required(client, settings):
    settings.MFA_REQUIRED_FOR_STAFF = True
    staff = verified_user(is_staff=True, is_superuser=True)
    assert login(client, staff.email, TEST_PASSWORD).status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    enrol = response["Location"]
    assert open_after_reauthentication(client, enrol).status_code == 200


@pytest.mark.django_db
def test_staff_with_totp_log_in_with_a_code_and_reach_the_admin(client, settings):
    settings.MFA_REQUIRED_FOR_STAFF = True
    staff = verified_user(is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    response = login(client, staff.email, TEST_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not in before the second factor
    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200  # a wrong code: still at the second step
    response = client.post(reverse("mfa_authenticate"), {"code": _current_code(secret)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_non_staff_are_not_forced_to_enrol(client, settings):
    settings.MFA_REQUIRED_FOR_STAFF = True
    member = MembershipFactory(user=verified_user()).user
    client.force_login(member)
    assert client.get(reverse("bookings:catalog")).status_code == 200


@pytest.mark.django_db
def test_portal_users_can_enrol_totp(client):
    member = MembershipFactory(user=verified_user()).user
    assert login(client, member.email, TEST_PASSWORD).status_code == 302
    response = open_after_reauthentication(client, reverse("mfa_activate_totp"))
    assert response.status_code == 200
    assert b"data:image/svg+xml" in response.content  # the QR code to scan


@pytest.mark.django_db
def test_security_keys_are_offered_beside_totp(client):
    member = MembershipFactory(user=verified_user()).user
    assert login(client, member.email, TEST_PASSWORD).status_code == 302
    response = client.get(reverse("mfa_index"))
    assert response.status_code == 200
    assert reverse("mfa_activate_totp").encode() in response.content
    assert reverse("mfa_add_webauthn").encode() in response.content


# --- production settings --------------------------------------------------------------------

SETTINGS_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ('EMAIL_BACKEND', 'DEMO_ENDPOINTS', "
    "'MFA_REQUIRED_FOR_STAFF', 'ALLAUTH_TRUSTED_PROXY_COUNT', 'DATA_UPLOAD_MAX_MEMORY_SIZE')}"
    "))"
)


def settings_of(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SETTINGS_PROBE], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)


def demo_env(**extra: str) -> dict[str, str]:
    env = production_env(DATABASE_URL="", SECRET_KEY="")
    for name in ("DEBUG", "EMAIL_BACKEND", "DEMO_ENDPOINTS", "MFA_REQUIRED_FOR_STAFF"):
        env.pop(name, None)
    env.update(extra)
    return env


@pytest.mark.parametrize("backend", [
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
])
def test_production_refuses_to_start_with_an_email_backend_that_writes_links_to_logs(backend):
    result = settings_of(production_env(EMAIL_BACKEND=backend))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "EMAIL_BACKEND" in result.stderr


def test_production_defaults_for_accounts():
    env = production_env()
    for name in ("EMAIL_BACKEND", "DEMO_ENDPOINTS", "MFA_REQUIRED_FOR_STAFF",
                 "TRUSTED_PROXY_COUNT", "DATA_UPLOAD_MAX_MEMORY_SIZE"):
        env.pop(name, None)
    result = settings_of(env)
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert s["DEMO_ENDPOINTS"] is False
    assert s["MFA_REQUIRED_FOR_STAFF"] is True
    # Behind the one TLS proxy production assumes: its address is not everybody's.
    assert s["ALLAUTH_TRUSTED_PROXY_COUNT"] == 1
    assert s["DATA_UPLOAD_MAX_MEMORY_SIZE"] <= 2 * 1024 * 1024


def test_production_settings_follow_the_environment():
    result = settings_of(production_env(TRUSTED_PROXY_COUNT="2", DEMO_ENDPOINTS="true",
                                        MFA_REQUIRED_FOR_STAFF="false"))
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["ALLAUTH_TRUSTED_PROXY_COUNT"] == 2
    assert s["DEMO_ENDPOINTS"] is True and s["MFA_REQUIRED_FOR_STAFF"] is False


def test_the_embedded_demo_keeps_console_mail_demo_endpoints_and_plain_logins():
    result = settings_of(demo_env())
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert s["DEMO_ENDPOINTS"] is True
    assert s["MFA_REQUIRED_FOR_STAFF"] is False


# --- suspension -----------------------------------------------------------------------------

@pytest.fixture
def suspended_world(world):
    staff = UserFactory(is_staff=True)
    services.suspend_organization(organization=world.a.sme, reason="Unpaid invoices",
                                  by=staff)
    return world


@pytest.mark.django_db
def test_a_suspended_organisations_api_keys_are_refused(suspended_world):
    world = suspended_world
    statuses = dict(Booking.objects.filter(organization=world.a.sme)
                    .values_list("pk", "status"))
    response = world.client("sme").get("/api/v1/bookings/")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "organization_suspended"
    assert "suspended" in body["detail"]
    # Writes too, and nothing is changed.
    response = world.client("sme").post(f"/api/v1/bookings/{world.a.confirmed.pk}/cancel/",
                                        {}, format="json")
    assert response.status_code == 403
    assert dict(Booking.objects.filter(organization=world.a.sme)
                .values_list("pk", "status")) == statuses  # bookings kept as they were
    # Other organisations are unaffected.
    assert world.client("flagship").get("/api/v1/bookings/").status_code == 200


@pytest.mark.django_db
def test_a_reinstated_organisations_keys_work_again(suspended_world):
    world = suspended_world
    services.reinstate_organization(organization=world.a.sme, by=None)
    assert world.client("sme").get("/api/v1/bookings/").status_code == 200


@pytest.mark.django_db
def test_a_suspended_organisations_portal_sessions_see_a_clear_page(suspended_world):
    world = suspended_world
    member = MembershipFactory(organization=world.a.sme).user
    client = Client()
    client.force_login(member)
    for url in (reverse("bookings:list"), reverse("trials:list"), reverse("bookings:catalog"),
                reverse("organizations:page")):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Your organisation is suspended" in response.content
        assert b"Unpaid invoices" in response.content
    assert client.post(reverse("account_logout")).status_code == 302  # may still log out
    # Another organisation's members are unaffected.
    other = Client()
    other.force_login(MembershipFactory(organization=world.b.sme).user)
    assert other.get(reverse("bookings:list")).status_code == 200


@pytest.mark.django_db
def test_suspension_needs_a_reason(world):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        services.suspend_organization(organization=world.a.sme, reason="  ", by=None)
    assert caught.value.violations[0].code == "suspension_reason_required"
    assert Organization.objects.get(pk=world.a.sme.pk).suspended_at is None


@pytest.mark.django_db
def test_staff_suspend_and_reinstate_in_the_admin(world, admin_client):
    changelist = reverse("admin:organizations_organization_changelist")
    sme = world.a.sme
    # The action first asks for the reason.
    response = admin_client.post(changelist, {"action": "suspend", "_selected_action": [sme.pk]})
    assert response.status_code == 200
    assert b"reason" in response.content
    assert Organization.objects.get(pk=sme.pk).suspended_at is None
    response = admin_client.post(changelist, {"action": "suspend", "apply": "1",
                                              "_selected_action": [sme.pk],
                                              "reason": "Identity documents withdrawn"})
    assert response.status_code == 302
    sme.refresh_from_db()
    assert sme.suspended_at is not None
    assert sme.suspension_reason == "Identity documents withdrawn"
    assert world.client("sme").get("/api/v1/bookings/").status_code == 403
    admin_client.post(changelist, {"action": "reinstate", "_selected_action": [sme.pk]})
    sme.refresh_from_db()
    assert sme.suspended_at is None
    assert world.client("sme").get("/api/v1/bookings/").status_code == 200


@pytest.mark.django_db
def test_staff_verify_organisations_in_the_admin(admin_client):
    from tests.factories import OrganizationFactory

    sme = OrganizationFactory(verified=False)
    response = admin_client.post(reverse("admin:organizations_organization_changelist"),
                                 {"action": "mark_verified", "_selected_action": [sme.pk]})
    assert response.status_code == 302
    assert Organization.objects.get(pk=sme.pk).verified is True


@pytest.mark.django_db
def test_organisations_and_api_keys_cannot_be_deleted_in_the_admin(world, admin_client):
    url = reverse("admin:organizations_organization_delete", args=[world.a.sme.pk])
    assert admin_client.get(url).status_code == 403
    key = world.a.sme.api_keys.first()
    url = reverse("admin:organizations_organizationapikey_delete", args=[key.pk])
    assert admin_client.get(url).status_code == 403
    assert Organization.objects.filter(pk=world.a.sme.pk).exists()


@pytest.mark.django_db
def test_an_api_key_added_in_the_admin_is_made_by_the_service_and_works(world, admin_client):
    response = admin_client.post(reverse("admin:organizations_organizationapikey_add"),
                                 {"name": "from the console", "organization": world.a.sme.pk},
                                 follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m.split(" is: ")[1].split(". ")[0] for m in shown if " is: " in m)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/bookings/").status_code == 200


# --- who may consent: the SME admin decides ------------------------------------------------

@pytest.mark.django_db
def test_the_sme_admin_lets_members_consent_in_the_portal(world):
    sme = world.a.sme
    admin = MembershipFactory(organization=sme, role=Membership.Role.ADMIN).user
    client = Client()
    client.force_login(admin)
    page = client.get(reverse("organizations:page"))
    assert b"members_may_consent" in page.content
    response = client.post(reverse("organizations:consent-rights"),
                           {"members_may_consent": "on"})
    assert response.status_code == 302
    assert Organization.objects.get(pk=sme.pk).members_may_consent is True
    client.post(reverse("organizations:consent-rights"), {})
    assert Organization.objects.get(pk=sme.pk).members_may_consent is False


@pytest.mark.django_db
def test_a_member_cannot_give_members_consent_rights(world):
    sme = world.a.sme
    member = MembershipFactory(organization=sme, role=Membership.Role.MEMBER).user
    client = Client()
    client.force_login(member)
    page = client.get(reverse("organizations:page"))
    assert b'name="members_may_consent"' not in page.content
    response = client.post(reverse("organizations:consent-rights"),
                           {"members_may_consent": "on"}, follow=True)
    assert response.status_code == 200
    assert b"administrators may do this" in response.content
    assert Organization.objects.get(pk=sme.pk).members_may_consent is False


@pytest.mark.django_db
def test_staff_set_consent_rights_in_the_admin(world, admin_client):
    url = reverse("admin:organizations_organization_change", args=[world.a.sme.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert b'name="members_may_consent"' in response.content


@pytest.mark.django_db
def test_the_organisation_change_form_leaves_verification_and_kind_to_their_rules(
        admin_client):
    from django.forms.models import model_to_dict

    from tests.factories import OrganizationFactory

    sme = OrganizationFactory(verified=False, kind=Organization.Kind.SME)
    url = reverse("admin:organizations_organization_change", args=[sme.pk])
    form = {k: v for k, v in model_to_dict(sme).items() if v is not None}
    form.update({"name": "Renamed SME", "verified": "on", "kind": "flagship",
                 "members_may_consent": "on",
                 "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0})
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content
    sme.refresh_from_db()
    assert sme.name == "Renamed SME"
    assert sme.members_may_consent is True  # through the service
    assert (sme.verified, sme.kind) == (False, Organization.Kind.SME)
