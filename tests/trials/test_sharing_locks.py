"""Request-path row locks of sharing are bounded: a change of an agreement, or a consent
to it, that waits too long for the agreement's row answers 503 "busy, retry" with
Retry-After (never a hang, never "database unreachable"), and changes nothing."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection

from tests.fixtures.world import key_client
from tests.trials.test_sharing import make_agreement, university
from trials.models import SharingAgreement

__all__ = ["university"]  # the fixture shared with test_sharing


def holding_row_lock(table: str, pk: int) -> psycopg.Connection:
    """Another session holding ``FOR UPDATE`` on one row until it is closed."""
    db = connection.settings_dict
    other = psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"],
                            port=db["PORT"] or 5432, password=db["PASSWORD"] or None)
    other.execute(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', [pk])
    return other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_agreement_locked_elsewhere_answers_busy(operator, hub, category, receiver,
                                                    settings):
    settings.DB_LOCK_TIMEOUT_MS = 200
    client = key_client(operator)
    agreement = make_agreement(client, receiver, hub)
    other = holding_row_lock(SharingAgreement._meta.db_table, agreement["id"])
    # Released after 3 s in any case: an unbounded wait would then go through (and fail
    # the test) instead of hanging it.
    release = threading.Timer(3, other.close)
    release.start()
    try:
        response = client.patch(f"/api/v1/agreements/{agreement['id']}/",
                                {"embargo_days": 1}, format="json")
    finally:
        release.cancel()
        other.close()
    assert response.status_code == 503
    assert response.json()["code"] == "busy" and response["Retry-After"] == "1"
    assert SharingAgreement.objects.get().embargo_days == agreement["embargo_days"]
