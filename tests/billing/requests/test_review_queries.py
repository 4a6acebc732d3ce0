"""The service-request lists (API, portal, console) do not grow their queries with their
rows (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .conftest import logged_in, quote, submit

pytestmark = pytest.mark.django_db


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len([q for q in ctx.captured_queries if "organizationapikey" not in q["sql"]])


def _more(sme, hub, pieces, operator, count, first_day):
    for n in range(count):
        made = submit(sme, hub, pieces, days=first_day + n)
        quote(made, operator, periods=None)


def test_request_lists_do_not_grow(sme, hub, equipment, second_equipment, rate_card,
                                   operator, sme_user, operator_user, sme_client,
                                   operator_client):
    clients = [(sme_client, "/api/v1/service-requests/"),
               (operator_client, "/api/v1/service-requests/"),
               (logged_in(sme_user), reverse("billing:requests")),
               (logged_in(operator_user), reverse("billing-console:requests"))]
    _more(sme, hub, [equipment, second_equipment], operator, 1, 5)
    few = [_queries(client, path) for client, path in clients]
    _more(sme, hub, [equipment, second_equipment], operator, 4, 6)
    many = [_queries(client, path) for client, path in clients]
    assert many == few
