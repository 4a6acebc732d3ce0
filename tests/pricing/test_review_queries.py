"""Lists do not grow their queries with their rows (no N+1): the quotes and vouchers of the
API, the SME's quote and voucher pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pricing import services
from tests.factories import MembershipFactory, UserFactory, VoucherGrantFactory
from tests.fixtures.world import local

pytestmark = pytest.mark.django_db


def _estimates(sme, equipment, item, grant, count):
    for n in range(count):
        start = local(2, 9) + timedelta(days=n)
        services.create_estimate(organization=sme, equipment_id=equipment.pk, start=start,
                                 end=start + timedelta(hours=2), assisted=True,
                                 items=[("ti-blank", 1)], grant_id=grant.pk)


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    # The API key's "last used" stamp is written now and then: not the list's.
    return len([q for q in ctx.captured_queries if "organizationapikey" not in q["sql"]])


def test_lists_do_not_grow_with_rows(sme_client, sme, equipment, rate, item, grant, programme):
    from django.test import Client

    portal = Client()
    portal.force_login(MembershipFactory(organization=sme, user=UserFactory()).user)
    paths = [("api", "/api/v1/quotes/"), ("api", "/api/v1/vouchers/"),
             ("portal", reverse("pricing:quotes")), ("portal", reverse("pricing:vouchers"))]
    _estimates(sme, equipment, item, grant, 1)
    VoucherGrantFactory(programme=programme, organization=sme)
    few = {path: _queries(sme_client if kind == "api" else portal, path)
           for kind, path in paths}
    _estimates(sme, equipment, item, grant, 4)
    VoucherGrantFactory.create_batch(3, programme=programme, organization=sme)
    many = {path: _queries(sme_client if kind == "api" else portal, path)
            for kind, path in paths}
    assert many == few
