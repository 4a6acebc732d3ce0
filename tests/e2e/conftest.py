"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded
browser) against pytest-django's live server, which runs in a thread of this process, so
the test reads the e-mails the server sends from ``django.core.mail.outbox``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.cache import cache

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", "/tmp/testbed-e2e-screenshots"))


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.exists() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"E2E screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    print(f"\nE2E screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser(django_db_setup):
    # After the test database exists: Playwright's sync API keeps an asyncio loop in this
    # thread from here on, which Django's async-safety check would take for async code.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # While Playwright runs, the ORM calls the tests make between browser steps (and the
    # database flushes after them) are still synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _live_server_settings(settings):
    # allauth's rate limits live in the cache; earlier tests must not throttle these.
    cache.clear()
    # The PostgreSQL run has DEBUG off, hence HTTPS redirects, HSTS and secure-only
    # cookies; the live server is plain http on 127.0.0.1.
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def page(browser, live_server, screenshots, request):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900},
                                  base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.shot = lambda name: page.screenshot(
        path=str(screenshots / f"{request.node.name}-{name}.png"), full_page=True)
    yield page
    context.close()
