import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from equipment.models import Equipment, Hub, Qualification
from organizations.models import Membership, Organization, OrganizationAPIKey
from testbed.management.commands import seed_demo

pytestmark = pytest.mark.django_db

KEY_LINE = re.compile(r"^\s+(?P<slug>[a-z0-9-]+)\s+(?P<key>[A-Za-z0-9]+\.[A-Za-z0-9]+)$", re.M)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def readme_users() -> list[tuple[str, str]]:
    """(e-mail, role) rows of the demo-user table in README.md."""
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([^`]+)` \| [^|]+ \| (\w+|—) \|$", readme, re.M)


def test_seeding_twice_changes_nothing():
    seed("--no-keys")
    counts = row_counts()
    equipment = dict(Equipment.objects.values_list("pk", "updated"))
    passwords = dict(get_user_model().objects.values_list("pk", "password"))
    seed("--no-keys")
    assert row_counts() == counts
    assert dict(Equipment.objects.values_list("pk", "updated")) == equipment  # not re-saved
    assert dict(get_user_model().objects.values_list("pk", "password")) == passwords


def test_seeding_restores_edited_demo_rows():
    seed("--no-keys")
    dmu = Equipment.objects.get(slug="dmg-dmu-50")
    dmu.hourly_rate, dmu.max_duration = 1, 60
    dmu.save()
    dmu.capabilities.clear()
    seed("--no-keys")
    dmu.refresh_from_db()
    assert dmu.hourly_rate == 680 and dmu.max_duration == 480
    assert set(dmu.capabilities.values_list("slug", flat=True)) == {"5-axis",
                                                                     "high-speed-spindle"}


def test_demo_catalog_is_what_the_design_promises():
    seed("--no-keys")
    flagships = Organization.objects.filter(kind="flagship")
    assert set(flagships.values_list("slug", flat=True)) == {"autoworks", "phonetech"}
    assert set(Organization.objects.filter(kind="sme", verified=True)
               .values_list("slug", flat=True)) == {"precisionparts", "greenmotor", "sensorlab"}
    assert Organization.objects.get(slug="newco").verified is False
    assert set(Organization.objects.filter(kind="university")
               .values_list("slug", flat=True)) == {"tsinghua", "beihang"}
    for org in Organization.objects.all():
        org.full_clean()  # credit codes are valid
    for hub in Hub.objects.all():
        hub.full_clean()
    assert Hub.objects.filter(slug="autoworks-yizhuang", operator__slug="autoworks").exists()
    assert Hub.objects.filter(slug="phonetech-changping", operator__slug="phonetech").exists()

    equipment = Equipment.objects.all()
    assert 18 <= equipment.count() <= 25
    for item in equipment:
        item.full_clean()  # policies are consistent
    assert equipment.values("category").distinct().count() >= 6
    available = equipment.filter(status="available")
    assert available.filter(approval_required=False).count() > equipment.count() / 2
    assert equipment.filter(approval_required=True).exists()
    assert equipment.filter(qualification_required=True).exists()
    assert equipment.filter(changeover_buffer__gt=0).exists()
    assert equipment.filter(status="down").count() == 1
    assert equipment.filter(result_source_kind="demo").count() > equipment.count() / 2
    assert all(e.capabilities.exists() for e in equipment)

    qualification = Qualification.objects.get(user__email="engineer@precisionparts.example")
    assert qualification.equipment.qualification_required


def test_readme_demo_users_exist_and_can_log_in(client):
    seed("--no-keys")
    users = readme_users()
    assert len(users) == len(seed_demo.USERS) + 1  # and staff
    for email, role in users:
        user = get_user_model().objects.get(username=email)
        assert user.email == email
        assert user.check_password(seed_demo.DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=email, verified=True,
                                           primary=True).exists()
        if role == "—":
            assert user.is_superuser and user.is_staff
            assert not user.memberships.exists()
        else:
            assert list(user.memberships.values_list("role", flat=True)) == [role]
    assert Membership.objects.count() == len(seed_demo.USERS)
    # E-mail verification is mandatory; the verified address lets the demo user in.
    response = client.post("/accounts/login/", {"login": "lead@precisionparts.example",
                                                "password": seed_demo.DEMO_PASSWORD})
    assert response.status_code == 302
    assert "verify" not in response["Location"] and "confirm" not in response["Location"]
    assert client.session.get("_auth_user_id") == str(
        get_user_model().objects.get(username="lead@precisionparts.example").pk)


def test_readme_memberships_match_the_seed():
    seed("--no-keys")
    for email, role in readme_users():
        if role != "—":
            membership = Membership.objects.get(user__username=email)
            assert (membership.organization.slug, membership.role) == seed_demo.USERS[email]


def test_printed_keys_authenticate_and_replace_the_previous_ones():
    first = dict(KEY_LINE.findall(seed()))
    assert set(first) == set(Organization.objects.values_list("slug", flat=True))
    client = APIClient()
    for key in first.values():
        response = client.get("/api/v1/equipment/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
    assert response.json()["count"] == Equipment.objects.count()

    counts = row_counts()
    second = dict(KEY_LINE.findall(seed()))
    assert row_counts() == counts  # one demo key per organisation, however often
    assert OrganizationAPIKey.objects.filter(name="demo").count() == len(second)
    old = client.get("/api/v1/hubs/", HTTP_AUTHORIZATION=f"Bearer {first['autoworks']}")
    assert old.status_code == 401
    new = client.get("/api/v1/hubs/", HTTP_AUTHORIZATION=f"Bearer {second['autoworks']}")
    assert new.status_code == 200


def test_no_keys_leaves_existing_keys_alone():
    seed()
    keys = set(OrganizationAPIKey.objects.values_list("pk", flat=True))
    output = seed("--no-keys")
    assert not KEY_LINE.search(output)
    assert set(OrganizationAPIKey.objects.values_list("pk", flat=True)) == keys


def test_output_lists_the_logins():
    output = seed("--no-keys")
    for email, _role in readme_users():
        assert email in output
    assert seed_demo.DEMO_PASSWORD in output


@pytest.mark.parametrize("query", ["五轴", "five-axis", "5-axis"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_visitor_finds_the_demos_five_axis_machines(client, query, language):
    """The public catalogue, no account, on the demo's data: the search finds exactly the
    machines with the five-axis capability, whatever the reader's language."""
    seed("--no-keys")
    five_axis = set(Equipment.objects.filter(capabilities__slug="5-axis")
                    .values_list("pk", flat=True))
    assert len(five_axis) >= 2
    client.cookies["django_language"] = language
    response = client.get("/catalog/", {"q": query})
    assert response.status_code == 200
    assert {e.pk for e in response.context["page"].object_list} == five_axis
