"""Pricing and release lock the SME's grants of a programme the same way (all of them, in
id order): a reschedule (release, then price) can then never wait crosswise on a booking
against another grant of the programme."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pricing import services
from tests.factories import VoucherGrantFactory
from tests.fixtures.world import local

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _grant_locks(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries
            if "FOR UPDATE" in q["sql"] and '"pricing_vouchergrant"' in q["sql"].split(
                "WHERE")[0]]


def test_price_and_release_lock_the_programmes_grants_in_id_order(equipment, sme, rate,
                                                                    programme, grant):
    VoucherGrantFactory(programme=programme, organization=sme)  # a second grant
    with transaction.atomic():
        with CaptureQueriesContext(connection) as priced_ctx:
            quote = services.price_booking(
                equipment=equipment, organization=sme, start=local(2, 9),
                end=local(2, 9) + timedelta(hours=2), grant_id=grant.pk, now=timezone.now())
        with CaptureQueriesContext(connection) as released_ctx:
            services.release_quote(quote, now=timezone.now())
    priced, released = _grant_locks(priced_ctx), _grant_locks(released_ctx)
    assert len(priced) == len(released) == 1
    for sql in (priced[0], released[0]):
        assert '"programme_id"' in sql and 'ORDER BY "pricing_vouchergrant"."id"' in sql, sql
