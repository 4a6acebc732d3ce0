"""The browser fixtures of tests/e2e (Debian's Chromium through Playwright, the live
server) for the polish browser tests."""

from tests.e2e.conftest import (  # noqa: F401 - fixtures
    _live_server_settings,
    browser,
    page,
    screenshots,
)
