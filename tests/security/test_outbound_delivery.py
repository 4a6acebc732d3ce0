"""Invariant 8 at send time for university deliveries: an agreement endpoint saved while
its hub's network was allowed is refused once platform staff withdraw the allowance — the
worker never reaches it, and what tenants can read is our own words only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from core import webhooks
from core.models import DeliveryLog
from tests.fixtures.world import key_client
from tests.trials.test_sharing import (  # noqa: F401 - fixtures used by name
    EMBARGO,
    after_embargo,
    consent,
    make_agreement,
    university,
)
from tests.trials.test_sharing import collected as collected  # noqa: F401 - a fixture
from trials.models import DatasetRelease
from trials.tasks import release_due_datasets

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub_allowance_only(settings, hub):
    """Production: nothing internal allowed deployment-wide; the test hub's gateway and
    university receiver (loopback here) are allowed for that hub by platform staff."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    hub.outbound_allowed_networks = "127.0.0.0/8"
    hub.save()
    return hub


@pytest.fixture
def _loopback_only():
    """The peers here are reached by address only; no name resolution to guard."""


def test_release_endpoint_refused_at_delivery_once_the_allowance_is_withdrawn(
        hub_allowance_only, collected, operator, sme, receiver,
        django_capture_on_commit_callbacks):
    hub = hub_allowance_only
    agreement = make_agreement(key_client(operator), receiver, hub)  # allowed when saved
    with django_capture_on_commit_callbacks(execute=True):
        consent(key_client(sme), collected, agreement["id"])
    hub.outbound_allowed_networks = ""
    hub.save()

    with after_embargo(collected):
        release_due_datasets()
    release = DatasetRelease.objects.get()
    assert receiver.received == []
    assert release.status == DatasetRelease.Status.PENDING
    assert release.last_error == "outbound_refused"  # what tenants may read: the code
    assert list(DeliveryLog.objects.values_list("ok", "status_code", "error")) == [
        (False, None, webhooks.ERROR_REFUSED)]

    # Allowed again: the next attempt reaches the university (the refusal was the guard's).
    hub.outbound_allowed_networks = "127.0.0.0/8"
    hub.save()
    later = collected.booking.end + timedelta(days=EMBARGO + 1, hours=2)
    with time_machine.travel(later, tick=True):
        release_due_datasets()
    release.refresh_from_db()
    assert release.status == DatasetRelease.Status.DELIVERED
    assert len(receiver.received) == 1
