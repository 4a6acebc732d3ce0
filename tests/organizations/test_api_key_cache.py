"""The API key cache (organizations.auth): a warm key costs no query, and every change
to a key or its organisation is seen on the very next call."""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.utils import timezone

from organizations import auth
from organizations.models import OrganizationAPIKey
from organizations.services import (
    reinstate_organization,
    revoke_api_key,
    suspend_organization,
    verify_organization,
)
from tests.factories import OrganizationFactory, api_key_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/"  # the API root: authentication and throttle, no query of its own


def call(api_client, secret, **headers):
    return api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}", **headers)


def warm(api_client, secret) -> None:
    """Two calls: the first reads the row and caches it (and writes the last use)."""
    assert call(api_client, secret).status_code == 200
    assert call(api_client, secret).status_code == 200


def entry(secret):
    return caches["default"].get(auth._cache_key(secret.partition(".")[0]))


def test_a_warm_key_costs_no_query(api_client, django_assert_num_queries):
    secret = api_key_for(OrganizationFactory())
    warm(api_client, secret)
    assert isinstance(entry(secret), tuple)
    with django_assert_num_queries(0):
        assert call(api_client, secret).status_code == 200


def test_a_cold_key_is_read_once(api_client, django_assert_num_queries):
    secret = api_key_for(OrganizationFactory())
    with django_assert_num_queries(2):  # the key with its organisation; its last use
        assert call(api_client, secret).status_code == 200


def test_revoked_key_is_refused_on_the_very_next_call(api_client):
    org = OrganizationFactory()
    secret = api_key_for(org)
    warm(api_client, secret)
    revoke_api_key(organization=org, prefix=secret.partition(".")[0])
    assert call(api_client, secret).status_code == 401
    assert call(api_client, secret).status_code == 401


def test_suspension_is_seen_on_the_very_next_call_and_so_is_reinstatement(api_client,
                                                                          admin_user):
    org = OrganizationFactory()
    secret = api_key_for(org)
    warm(api_client, secret)
    suspend_organization(organization=org, reason="Unpaid invoices", by=admin_user)
    response = call(api_client, secret)
    assert response.status_code == 403
    assert response.json()["code"] == auth.SUSPENDED_CODE
    reinstate_organization(organization=org, by=admin_user)
    assert call(api_client, secret).status_code == 200


def test_a_wrong_secret_is_refused_though_its_prefix_is_cached(api_client):
    org = OrganizationFactory()
    secret = api_key_for(org)
    prefix = secret.partition(".")[0]
    warm(api_client, secret)
    assert call(api_client, f"{prefix}.not-the-secret").status_code == 401
    assert call(api_client, f"{prefix}.{'x' * 32}").status_code == 401
    assert call(api_client, secret).status_code == 200


def test_a_failed_lookup_caches_nothing_and_spoils_nothing(api_client):
    """A wrong secret read first caches the row (the truth), never a verdict: the right
    secret works next; an unknown prefix is not cached at all."""
    secret = api_key_for(OrganizationFactory())
    prefix = secret.partition(".")[0]
    assert call(api_client, f"{prefix}.wrong").status_code == 401
    assert call(api_client, secret).status_code == 200
    assert call(api_client, "nosuchpx.secret").status_code == 401
    assert caches["default"].get(auth._cache_key("nosuchpx")) is None


def test_expiry_is_checked_on_every_call(api_client):
    org = OrganizationFactory()
    secret = api_key_for(org)
    warm(api_client, secret)
    key = OrganizationAPIKey.objects.get(prefix=secret.partition(".")[0])
    key.expiry_date = timezone.now() - timedelta(seconds=1)
    key.save()
    assert call(api_client, secret).status_code == 401


def test_other_changes_to_the_organisation_are_seen_at_once(api_client, admin_user):
    """Its kind, verification, name … travel in the entry too: any save holds it."""
    org = OrganizationFactory(verified=False)
    secret = api_key_for(org)
    warm(api_client, secret)
    verify_organization(organization=org, by=admin_user)
    cached = entry(secret)
    assert cached == auth.HOLD  # held while the change may still be in flight
    assert call(api_client, secret).status_code == 200
    assert entry(secret) == auth.HOLD  # read from the database, not cached meanwhile


def test_a_change_holds_the_entry_again_when_it_commits(django_capture_on_commit_callbacks):
    """A request that read the row before the change committed cannot put the old row
    back: the entry is held at the change and again at its commit, and lookups only ever
    ``add`` (never over a hold)."""
    org = OrganizationFactory()
    secret = api_key_for(org)
    prefix = secret.partition(".")[0]
    auth._lookup(prefix)
    stale = entry(secret)
    assert isinstance(stale, tuple)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        revoke_api_key(organization=org, prefix=prefix)
        assert entry(secret) == auth.HOLD
        assert caches["default"].add(auth._cache_key(prefix), stale) is False
    assert callbacks  # the second hold, at commit
    assert entry(secret) == auth.HOLD
    assert auth._lookup(prefix).revoked is True


def test_the_last_use_is_written_at_most_once_a_minute(api_client):
    secret = api_key_for(OrganizationFactory())
    key = OrganizationAPIKey.objects.get(prefix=secret.partition(".")[0])
    assert call(api_client, secret).status_code == 200
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    assert call(api_client, secret).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client():
    """core.backends.redis: one redis-py client per pool, not one per cache call."""
    backend = caches["default"]._cache
    assert backend.get_client(write=True) is backend.get_client(write=True)
    assert backend.get_client() is backend.get_client(write=True)  # one server: one pool


def test_an_entry_of_other_fields_is_not_read(api_client):
    """An entry written by code with other model fields (a deploy that added a column) is
    ignored: the row is read from the database."""
    org = OrganizationFactory()
    secret = api_key_for(org)
    warm(api_client, secret)
    fmt, key_values, org_values = entry(secret)  # the key not revoked yet
    revoke_api_key(organization=org, prefix=secret.partition(".")[0])
    caches["default"].set(auth._cache_key(secret.partition(".")[0]),
                          (fmt + "|new_column", key_values, org_values + (None,)))
    assert call(api_client, secret).status_code == 401  # the revoked row, from the database
