"""Fixtures of the money display tests: the pricing world (tests/pricing/conftest.py: a
rate card at 400.00 an hour, 100.00 assisted, 200.00 set-up, one item; a 50 % programme
with a 10,000.00 grant for the SME) and logged-in members (tests/portal/conftest.py)."""

from __future__ import annotations

from tests.portal.conftest import admin_user, client_other, client_sme, other_user
from tests.pricing.conftest import card, grant, item, programme, rate

__all__ = ["admin_user", "card", "client_other", "client_sme", "grant", "item", "other_user",
           "programme", "rate"]
