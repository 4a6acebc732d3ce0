import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from rest_framework.test import APIClient

from organizations.services import create_api_key

from .factories import OrganizationFactory

# Property tests (Hypothesis) are replayable: a failure found is replayed, never lost to the
# next run's luck. "dev" (the default): failing examples are kept in .hypothesis/examples
# at the repository root (git-ignored, whatever directory pytest runs from) and tried first
# on the next run until they pass. "ci" (CI set, or HYPOTHESIS_PROFILE=ci): derandomized,
# the same examples on every run (so no example database: Hypothesis refuses one with
# derandomize), and a run's result never depends on a seed. Both print a
# @reproduce_failure blob with a failure, to paste onto the test.
hypothesis_settings.register_profile(
    "dev", print_blob=True, database=DirectoryBasedExampleDatabase(
        Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"))
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                                     deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "dev"))

# Shared fixtures: organisations, hub and equipment, and real loopback peers.
pytest_plugins = ["tests.fixtures.world", "tests.fixtures.peers", "tests.fixtures.browser"]


def pytest_collection_modifyitems(config, items):
    """The one way to say a test needs a service: ``@pytest.mark.postgres`` (PostgreSQL:
    row locks, exclusion constraints, a second connection) or ``@pytest.mark.redis`` (a
    real broker or cache). Such tests are skipped, with the reason, where the service is
    not configured (SQLite, no REDIS_URL); CI's second run configures both. No per-file
    skip conditions on the database vendor (tests/test_suite_conventions.py)."""
    on_postgres = connection.vendor == "postgresql"
    skip_pg = pytest.mark.skip(
        reason=f"needs PostgreSQL (runs on {connection.vendor}; set DATABASE_URL=postgres://…)")
    skip_redis = pytest.mark.skip(reason="needs Redis (REDIS_URL is not set; "
                                         "set REDIS_URL=redis://…)")
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(skip_pg)
        if item.get_closest_marker("redis") and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True, scope="session")
def _plain_http():
    """Production redirects plain HTTP to HTTPS (the TLS proxy is in front of it); tests
    talk plain HTTP to the app (test client, live server), so the redirect is off for the
    whole run, before any server or handler reads it."""
    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Tasks run in-process during tests, unless the test is marked ``real_broker``."""
    if request.node.get_closest_marker("real_broker"):
        yield
        return
    from testbed.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _outbound_to_loopback_peers(settings):
    """The peers tests talk to (gateways, receivers: tests/fixtures/peers.py) run on
    loopback over plain HTTP, as a staging deployment's would: the outbound guard is told
    so, as such a deployment tells it (OUTBOUND_ALLOWED_NETWORKS). The guard's own tests
    (tests/security/test_outbound*.py) turn this off."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _staff_mfa_optional(settings):
    """Production (DEBUG off, as in the PostgreSQL run) sends staff without MFA to enrol
    before the admin console; tests of the console log staff in directly. The MFA tests
    turn it back on."""
    settings.MFA_REQUIRED_FOR_STAFF = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing demo and factory passwords with PBKDF2 would dominate the suite's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings):
    """With DEBUG off (the PostgreSQL run) settings pick the manifest storage, which needs
    ``collectstatic``; pages under test only need static URLs."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: allauth's rate limits (one confirmation
    e-mail per address every few minutes, login attempts) and cached lookups live there,
    and an earlier test's must not decide a later one's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _media_outside_the_checkout(settings, tmp_path_factory):
    """Uploads, photos, packages and certificates the tests make go to a temporary
    directory, never into the checkout's media/."""
    settings.MEDIA_ROOT = tmp_path_factory.getbasetemp() / "media"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def key_client(db):
    """``key_client(org)`` → an APIClient sending a fresh API key of ``org``
    (``key_client(kind="flagship")`` makes the organisation too). The client carries
    ``.organization`` and ``.api_key`` for assertions."""

    def make(organization=None, **org_fields) -> APIClient:
        if organization is None:
            organization = OrganizationFactory(**org_fields)
        api_key, secret = create_api_key(organization=organization, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.organization = organization
        client.api_key = api_key
        return client

    return make


class _BrokerSwitch:
    """Point the Celery app at another broker (not eager), and back."""

    def __init__(self, url: str):
        from testbed.celery import app

        self.app = app
        self.saved = (app.conf.task_always_eager, app.conf.broker_url)
        self._use(False, url)

    def _use(self, eager: bool, url: str) -> None:
        self.app.conf.task_always_eager = eager
        self.app.conf.broker_url = url
        # Drop pooled connections so the next send connects to the new address.
        self.app._pool = None
        self.app.amqp._producer_pool = None

    def restore(self) -> None:
        """Back to running tasks in-process (the broker 'is back')."""
        self._use(True, self.saved[1])


@pytest.fixture
def broker_at():
    """``broker_at(url)``: tasks are sent to that broker instead of running in-process
    (``memory://`` takes messages that no worker will consume: the production shape of a
    request, which only publishes)."""
    switches = []

    def switch(url: str) -> _BrokerSwitch:
        switches.append(_BrokerSwitch(url))
        return switches[-1]

    yield switch
    for s in reversed(switches):
        s._use(*s.saved)
