"""Statement and claim lists (API, portal, console) do not grow their queries with their
rows (no N+1)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import SettlementClaim
from organizations.models import Membership
from tests.billing.conftest import at, priced
from tests.factories import MembershipFactory, UserFactory, VoucherProgrammeFactory

from .conftest import grant_for, stated

pytestmark = pytest.mark.django_db


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len([q for q in ctx.captured_queries if "organizationapikey" not in q["sql"]])


def _add(equipment, sme, operator, hub, months, number):
    for month in months:
        booking = priced(equipment, sme, at(10, month=month))
        stated(booking, number=number + month)
        programme = VoucherProgrammeFactory(providers=[hub], valid_from=date(2026, 1, 1),
                                            valid_until=date(2027, 12, 31))
        SettlementClaim.objects.create(programme=programme, provider=operator,
                                       month=date(2026, month, 1))
        grant_for(programme, sme)


def test_statement_and_claim_lists_do_not_grow(equipment, sme, operator, hub, console,
                                               sme_client, operator_client):
    portal = Client()
    portal.force_login(MembershipFactory(organization=sme, role=Membership.Role.ADMIN,
                                         user=UserFactory()).user)
    paths = [(sme_client, "/api/v1/statements/"), (operator_client, "/api/v1/statements/"),
             (operator_client, "/api/v1/claims/"), (portal, reverse("billing:statements")),
             (portal, reverse("pricing:vouchers")),
             (console, reverse("billing-console:statements")),
             (console, reverse("billing-console:claims"))]
    _add(equipment, sme, operator, hub, [1], 0)
    few = [_queries(client, path) for client, path in paths]
    _add(equipment, sme, operator, hub, [2, 3, 4, 5], 0)
    many = [_queries(client, path) for client, path in paths]
    assert many == few
