"""The browser tests' fixtures live in the plugin tests/fixtures/browser.py (one browser for
the whole suite); the constant is here for the tests' module-level skip."""

from tests.fixtures.browser import CHROMIUM

__all__ = ["CHROMIUM"]
