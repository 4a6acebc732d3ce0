"""Production hardening: `check --deploy` is clean, HTTPS and its headers, the portal's
Content Security Policy (and the API docs working under it)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

PROJECT = Path(__file__).resolve().parents[2]
PG_URL = "postgres://testbed:pw@db.invalid:5432/testbed"  # never connected to
OURS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
        "DJANGO_SETTINGS_MODULE", "LOG_FORMAT",
        "DJANGO_ALLOW_ASYNC_UNSAFE"}  # set by the browser tests' session, never in production


def production_env(**extra: str) -> dict[str, str]:
    """The production shape: PostgreSQL, DEBUG off, a real secret, a host name. Nothing
    else from this shell (or a developer's .env, which explicit values beat)."""
    env = {k: v for k, v in os.environ.items()
           if k not in OURS and not k.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    env.update(DATABASE_URL=PG_URL, REDIS_URL="", DEBUG="false",
               SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="testbed.example.com",
               DJANGO_SETTINGS_MODULE="testbed.settings")
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_catches_a_weakened_setting():
    """The check above can fail: turn HSTS off through the environment and it does."""
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env=production_env(SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_REDIRECT_EXEMPT', 'SECURE_PROXY_SSL_HEADER', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
    "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
    "'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS', 'SECURE_REFERRER_POLICY', "
    "'FILE_UPLOAD_MAX_MEMORY_SIZE', 'DATA_UPLOAD_MAX_MEMORY_SIZE')}))"
)


def production_settings(**extra: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT,
                            env=production_env(**extra), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_defaults():
    s = production_settings()
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and s["SECURE_HSTS_PRELOAD"] is True
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert all(any(re.search(p, probe) for p in s["SECURE_REDIRECT_EXEMPT"])
               for probe in ("healthz", "readyz"))
    assert 0 < s["FILE_UPLOAD_MAX_MEMORY_SIZE"] <= s["DATA_UPLOAD_MAX_MEMORY_SIZE"]


def test_production_defaults_follow_the_environment():
    s = production_settings(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="600",
                            SECURE_HSTS_PRELOAD="false")
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SECURE_HSTS_SECONDS"] == 600 and s["SECURE_HSTS_PRELOAD"] is False


# --- HTTPS behind the proxy, in process -------------------------------------------------

HTTPS = {"SECURE_SSL_REDIRECT": True,
         "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
         "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
         "SECURE_HSTS_PRELOAD": True}


@pytest.mark.django_db
def test_plain_http_is_redirected_but_health_probes_are_not():
    with override_settings(**HTTPS):
        client = Client()  # a new handler: the security middleware reads the settings
        response = client.get("/api/v1/hubs/")
        assert response.status_code == 301
        assert response["Location"] == "https://testserver/api/v1/hubs/"
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200  # answered, not redirected


@pytest.mark.django_db
def test_https_through_the_proxy_gets_hsts_and_the_security_headers():
    with override_settings(**HTTPS):
        response = Client().get("/api/v1/hubs/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 401  # reached the API (no key)
    assert response["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


# --- Content Security Policy ------------------------------------------------------------

def _policy(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    return {name: set(values) for name, *values in
            (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.django_db
def test_portal_pages_carry_the_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == {"'self'"}
    assert policy["script-src"] == {"'self'"}  # no inline script, no eval, no CDN
    assert policy["style-src"] == {"'self'", "'unsafe-inline'"}
    assert policy["img-src"] == {"'self'", "data:"}
    assert policy["frame-ancestors"] == {"'none'"}
    assert policy["form-action"] == {"'self'"}


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@pytest.mark.django_db
def test_portal_home_runs_no_inline_script(client):
    """What script-src 'self' would block: the page must not depend on any."""
    body = client.get("/").content.decode()
    assert not INLINE_SCRIPT.search(body)
    assert not re.search(r"\son[a-z]+=", body)  # no inline event handlers either


@pytest.mark.django_db
def test_api_docs_work_under_the_policy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    body = response.content.decode()
    assert not INLINE_SCRIPT.search(body)  # the init script is a file of its own
    scripts = re.findall(r'<script src="([^"]+)"', body)
    assert "/api/docs/?script=" in scripts
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in init.content
    schema = client.get("/api/schema/")
    assert schema.status_code == 200  # what the docs load, from 'self'


CHROMIUM = "/usr/bin/chromium"
# Run in a process of its own: the browser tests' session may already hold Playwright's
# sync API (and its event loop) in this one.
BROWSER_PROBE = """
import json, sys
from playwright.sync_api import sync_playwright
url, chromium = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(url)
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    print(json.dumps({"policy": response.headers.get("content-security-policy", ""),
                      "operations": page.locator(".swagger-ui .opblock").count(),
                      "errors": errors}))
    browser.close()
"""


@pytest.mark.slow  # a real browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium")
def test_swagger_ui_renders_in_a_browser_without_policy_violations(live_server):
    """The real proof for the docs: a browser enforcing the policy renders every
    operation, and reports no violation."""
    result = subprocess.run([sys.executable, "-c", BROWSER_PROBE, f"{live_server.url}/api/docs/",
                             CHROMIUM], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert "script-src 'self'" in seen["policy"]
    assert seen["operations"] >= 40
    assert not [e for e in seen["errors"] if "Content Security Policy" in e], seen["errors"]
