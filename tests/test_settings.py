"""Settings come from the environment; each case runs in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

PROJECT = Path(__file__).resolve().parent.parent
SETUP = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'testbed.settings'; "
         "django.setup(); from django.conf import settings; ")
PROBE = SETUP + "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)"
PG_URL = "postgres://testbed:pw@db.invalid:5432/testbed"  # never connected to


def probe(code: str = PROBE, **env: str) -> subprocess.CompletedProcess:
    """Run the settings probe with exactly these variables; empty means unset (an empty
    value also beats a developer's .env, which is read without overwriting)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG",
                          "DJANGO_SETTINGS_MODULE"}}
    clean.update({"DATABASE_URL": "", "REDIS_URL": "", "SECRET_KEY": ""})
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], env=clean, cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "django.db.backends.sqlite3 True"),
    ({"DATABASE_URL": PG_URL, "SECRET_KEY": "x-test"}, "core.backends.postgresql True"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/15"}, "django.db.backends.sqlite3 False"),
    ({"DATABASE_URL": PG_URL, "SECRET_KEY": "x-test", "REDIS_URL": "redis://127.0.0.1:6379/15"},
     "core.backends.postgresql False"),
])
def test_database_and_celery_follow_the_environment(env, expected):
    result = probe(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("env", [
    {"DATABASE_URL": PG_URL},  # production shape: DEBUG defaults to off
    {"DEBUG": "false"},
    {"DEBUG": "false", "SECRET_KEY": "django-insecure-testbed-development-only"},
])
def test_production_refuses_to_start_without_a_secret_key(env):
    result = probe(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(("value", "kept"), [
    ("", ""),
    ("https://testbed.example.com", "https://testbed.example.com"),
    (" https://testbed.example.com/ ", "https://testbed.example.com"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
])
def test_the_site_address_is_kept_without_a_trailing_slash(value, kept):
    result = probe(SETUP + "print(repr(settings.SITE_URL))", SITE_URL=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(kept)


@pytest.mark.parametrize("value", [
    "testbed.example.com", "ftp://testbed.example.com", "https://", "https://x.example/portal",
    "https://x.example?a=1", "https://x.example#top"])
def test_a_site_address_that_is_not_one_refuses_to_start(value):
    result = probe(SETUP + "print(settings.SITE_URL)", SITE_URL=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL must be the site's address" in result.stderr


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_reports_redis(client):
    body = client.get("/readyz").json()
    assert body["checks"]["broker"]["mode"] == "redis"
    assert body["checks"]["broker"]["ok"] is True


SETTINGS_FILE = PROJECT / "testbed" / "settings.py"


def test_every_setting_is_declared_once():
    """One section per concern: a setting re-assigned further down (or patched with ``+=``
    or ``SETTING[key] = …``) hides its real value from whoever reads the first one."""
    import ast

    assigned: list[str] = []
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text())):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign)
                   else [])
        for target in targets:
            while isinstance(target, ast.Subscript | ast.Attribute):
                target = target.value  # DATABASES["default"][…] = … patches DATABASES
            if isinstance(target, ast.Name) and target.id.isupper():
                assigned.append(target.id)
    # DATABASES is completed per engine (SQLite options or PostgreSQL pooling), SECRET_KEY
    # falls back to the development key: both are decided in one place, in one section.
    repeated = {name for name in assigned if assigned.count(name) > 1} - {"DATABASES",
                                                                          "SECRET_KEY", "CACHES"}
    assert repeated == set()


def test_every_environment_variable_is_documented():
    """Each variable settings.py reads appears in .env.example, with a comment above it."""
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', SETTINGS_FILE.read_text()))
    example = (PROJECT / ".env.example").read_text().splitlines()
    documented = {line.split("=", 1)[0] for line in example if re.match(r"[A-Z0-9_]+=", line)}
    assert read - documented == set()
    assert read >= {"DATABASE_URL", "SECRET_KEY", "BOOKING_CHECK_IN_OPENS_MINUTES"}
    for i, line in enumerate(example):
        if re.match(r"[A-Z0-9_]+=", line):
            above = next(prev for prev in reversed(example[:i])
                         if not re.match(r"[A-Z0-9_]+=", prev))
            assert above.startswith("#"), f"{line} has no comment above it"


def test_check_in_window_is_a_declared_setting(settings):
    """DESIGN.md: check-in opens 30 minutes before the start."""
    assert settings.BOOKING_CHECK_IN_OPENS_MINUTES == 30
