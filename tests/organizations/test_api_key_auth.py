from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from organizations.models import OrganizationAPIKey
from organizations.services import create_api_key, revoke_api_key
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/hubs/"


def assert_problem_401(response):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_key_is_401_problem_json(api_client):
    assert_problem_401(api_client.get(URL))


@pytest.mark.parametrize("header", ["Token abc.def", "Bearer", "Bearer   ", "Bearer no-dot",
                                    "Basic dXNlcjpwYXNz"])
def test_malformed_header_is_401(api_client, header):
    assert_problem_401(api_client.get(URL, HTTP_AUTHORIZATION=header))


def test_wrong_secret_and_unknown_prefix_are_401(api_client):
    api_key, secret = create_api_key(organization=OrganizationFactory(), name="k")
    prefix = secret.partition(".")[0]
    assert_problem_401(api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {prefix}.wrong"))
    assert_problem_401(api_client.get(URL, HTTP_AUTHORIZATION="Bearer zzzzzzzz.wrong"))
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


def test_revoked_key_is_401(api_client):
    org = OrganizationFactory()
    _, secret = create_api_key(organization=org, name="k")
    assert api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    revoke_api_key(organization=org, prefix=secret.partition(".")[0])
    assert_problem_401(api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}"))


def test_expired_key_is_401(api_client):
    api_key, secret = create_api_key(organization=OrganizationFactory(), name="k")
    api_key.expiry_date = timezone.now() - timedelta(minutes=1)
    api_key.save()
    assert_problem_401(api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}"))


def test_good_key_is_200_and_records_last_use(api_client):
    api_key, secret = create_api_key(organization=OrganizationFactory(), name="k")
    assert api_key.last_used_at is None
    before = timezone.now()
    response = api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None and api_key.last_used_at >= before


def test_key_client_fixture_authenticates(key_client):
    assert key_client().get(URL).status_code == 200


def test_create_api_key_command_prints_a_working_key(api_client):
    org = OrganizationFactory(slug="acme")
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--org", "acme", "--name", "mes", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert "\n" not in secret
    assert secret not in err.getvalue()  # stderr is for people, stdout only the key
    assert OrganizationAPIKey.objects.get(organization=org).name == "mes"
    assert api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_create_api_key_command_unknown_org():
    with pytest.raises(CommandError, match="no-such-org"):
        call_command("create_api_key", "--org", "no-such-org", "--name", "x",
                     stdout=StringIO(), stderr=StringIO())
    assert not OrganizationAPIKey.objects.exists()
