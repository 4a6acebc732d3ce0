"""A webhook endpoint's deliveries (``/api/v1/webhooks/{id}/deliveries/``): the outbox
messages to it with their attempts, newest first, every one once across cursor pages
however messages are queued between pages; only the endpoint's own organisation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from core import outbox
from core.models import DeliveryLog, OutboxMessage
from core.pagination import INVALID_CURSOR
from tests.factories import WebhookEndpointFactory
from tests.fixtures.world import key_client

M = OutboxMessage.Status


def url(endpoint) -> str:
    return f"/api/v1/webhooks/{endpoint.pk}/deliveries/"


def _query(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}


def _queue(endpoint, n: int, *, tag: str, created=None) -> list[int]:
    """``n`` webhooks to the endpoint's organisation, queued as the apps queue them
    (``core.outbox``); ``created`` backdates them a minute apart."""
    for i in range(n):
        outbox.queue_webhooks(organization_id=endpoint.organization_id,
                              event_type="booking.confirmed", dedupe_key=f"{tag}-{i}",
                              data={"booking": i})
    ids = list(OutboxMessage.objects.filter(dedupe_key__startswith=f"webhook:{tag}-",
                                            endpoint=endpoint).order_by("pk")
               .values_list("pk", flat=True))
    if created is not None:
        for i, pk in enumerate(ids):
            OutboxMessage.objects.filter(pk=pk).update(created=created + timedelta(minutes=i))
    return ids


def _newest_first(ids) -> list[int]:
    return list(OutboxMessage.objects.filter(pk__in=ids).order_by("-created", "-id")
                .values_list("pk", flat=True))


@pytest.fixture
def endpoint(operator):
    return WebhookEndpointFactory(organization=operator)


@pytest.mark.django_db
def test_every_delivery_is_read_once_while_messages_are_queued_between_pages(
        endpoint, operator):
    now = timezone.now()
    before = _queue(endpoint, 7, tag="a", created=now - timedelta(hours=2))
    # Three messages in the same instant: the id breaks the tie.
    OutboxMessage.objects.filter(pk__in=before[:3]).update(created=now - timedelta(hours=3))
    added = []

    def queue(page: int) -> None:
        if page <= 3:  # newer than every row read: behind a newest-first cursor
            added.extend(_queue(endpoint, 2, tag=f"new{page}"))

    client, pages = key_client(operator), []
    response = client.get(url(endpoint), {"page_size": 2})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append([m["message_id"] for m in body["results"]])
        queue(len(pages))
        if not body["next"]:
            break
        response = client.get(url(endpoint), _query(body["next"]))
    read = [mid for page in pages for mid in page]
    by_id = dict(OutboxMessage.objects.values_list("message_id", "pk"))
    assert len(read) == len(set(read))  # none twice
    assert [by_id[mid] for mid in read] == _newest_first(before)  # none skipped, in order
    assert not {by_id[mid] for mid in read} & set(added)  # newer ones: on a fresh first page
    assert len(pages) == 4
    fresh = client.get(url(endpoint), {"page_size": 500}).json()["results"]
    assert [by_id[m["message_id"]] for m in fresh] == _newest_first(before + added)


@pytest.mark.django_db
def test_an_item_shows_the_message_and_its_attempts_as_the_console_does(endpoint, operator):
    now = timezone.now()
    sent, failing = _queue(endpoint, 2, tag="item", created=now - timedelta(hours=1))
    OutboxMessage.objects.filter(pk=sent).update(
        status=M.SENT, attempts=2, sent_at=now, last_error="HTTP 503 (earlier attempt)")
    OutboxMessage.objects.filter(pk=failing).update(
        attempts=1, next_attempt_at=now + timedelta(minutes=5), last_error="HTTP 500")
    DeliveryLog.objects.create(message_id=sent, at=now - timedelta(minutes=1), ok=False,
                               status_code=503, error="HTTP 503", duration_ms=40)
    DeliveryLog.objects.create(message_id=sent, at=now, ok=True, status_code=204,
                               duration_ms=12)
    DeliveryLog.objects.create(message_id=failing, at=now, ok=False, status_code=500,
                               error="HTTP 500", duration_ms=30)
    newest, oldest = key_client(operator).get(url(endpoint)).json()["results"]
    message = OutboxMessage.objects.get(pk=failing)
    assert newest["message_id"] == message.message_id
    assert set(newest) == {"message_id", "event_type", "status", "attempts", "created",
                           "sent_at", "next_attempt_at", "last_error", "log"}
    assert (newest["event_type"], newest["status"], newest["attempts"]) == (
        "booking.confirmed", "pending", 1)
    assert newest["last_error"] == "HTTP 500" and newest["next_attempt_at"]
    assert newest["sent_at"] is None
    assert [(a["ok"], a["status_code"]) for a in newest["log"]] == [(False, 500)]
    # Sent: the error of an earlier attempt is not shown as its state (as in the console);
    # the attempts say what happened, oldest first.
    assert oldest["status"] == "sent" and oldest["last_error"] == "" and oldest["sent_at"]
    assert [(a["ok"], a["status_code"], a["error"]) for a in oldest["log"]] == [
        (False, 503, "HTTP 503"), (True, 204, "")]


@pytest.mark.django_db
def test_the_status_filter_holds_across_pages(endpoint, operator):
    ids = _queue(endpoint, 9, tag="f", created=timezone.now() - timedelta(hours=1))
    failed = ids[::3]
    OutboxMessage.objects.filter(pk__in=failed).update(status=M.FAILED, attempts=8)
    client, params, read = key_client(operator), {"status": "failed", "page_size": 1}, []
    while True:
        body = client.get(url(endpoint), params).json()
        read += [m["message_id"] for m in body["results"]]
        assert all(m["status"] == "failed" for m in body["results"])
        if not body["next"]:
            break
        params = _query(body["next"])
    assert read == [OutboxMessage.objects.get(pk=pk).message_id for pk in _newest_first(failed)]
    both = client.get(url(endpoint), {"status": ["failed", "pending"]}).json()["results"]
    assert len(both) == 9
    bad = client.get(url(endpoint), {"status": "lost"})
    assert bad.status_code == 400 and "status" in bad.json()["errors"]


@pytest.mark.django_db
def test_another_organisations_endpoint_is_not_found(endpoint, operator, other_operator, sme):
    _queue(endpoint, 2, tag="own")
    theirs = WebhookEndpointFactory(organization=other_operator)
    _queue(theirs, 3, tag="theirs")
    assert len(key_client(operator).get(url(endpoint)).json()["results"]) == 2
    for org, target in ((operator, theirs), (other_operator, endpoint), (sme, endpoint)):
        response = key_client(org).get(url(target))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
    for missing in (0, 10**6, 2**70):
        assert key_client(operator).get(f"/api/v1/webhooks/{missing}/deliveries/"
                                        ).status_code == 404
    assert key_client(operator).get(url(endpoint)).json()["results"][0]["message_id"] not in {
        m.message_id for m in theirs.messages.all()}


@pytest.mark.django_db
def test_a_tampered_cursor_is_a_400_problem_in_the_callers_language(endpoint, operator):
    client = key_client(operator)
    for language in ("en", "zh-hans"):
        response = client.get(url(endpoint), {"cursor": "bm90IGEgY3Vyc29y"},
                              HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        with translation.override(language):
            assert response.json()["errors"] == {"cursor": [INVALID_CURSOR.text()]}


@pytest.mark.django_db
def test_the_schema_documents_the_deliveries_as_cursor_pages(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/webhooks/{id}/deliveries/"]["get"]
    params = {p["name"] for p in operation["parameters"]}
    assert {"cursor", "page_size", "status"} <= params and "page" not in params
    assert operation["summary"] == "Deliveries to a webhook endpoint"


@pytest.mark.django_db
def test_a_page_costs_the_same_queries_however_many_attempts_it_shows(endpoint, operator):
    client = key_client(operator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(endpoint), {"page_size": 500}).status_code == 200
        return len(captured.captured_queries)

    _queue(endpoint, 1, tag="one")
    queries()  # the key's first use (its lookup is cached afterwards)
    few = queries()
    for pk in _queue(endpoint, 10, tag="more"):
        DeliveryLog.objects.create(message_id=pk, at=timezone.now(), error="HTTP 502")
    assert queries() == few
