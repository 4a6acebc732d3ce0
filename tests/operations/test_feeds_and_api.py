"""Calendar feeds (RFC 5545, parsed back with icalendar), the webhooks API, readiness,
the outbox command and the request log line."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from icalendar import Calendar

from bookings import services
from core.models import OutboxMessage, WebhookEndpoint
from tests.fixtures.world import key_client, local, make_equipment

pytestmark = pytest.mark.django_db


def parse_feed(client, url) -> Calendar:
    r = client.get(url)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(r.content)


def test_sme_feed_round_trips_times_and_cancellations(equipment, sme, other_sme, api_client):
    mine = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(2, 9), end=local(2, 11, 30), purpose="x")
    gone = services.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=local(3, 9), end=local(3, 10), purpose="y")
    services.cancel_booking(booking_id=gone.pk, organization=sme)
    services.create_booking(equipment_id=equipment.pk, organization=other_sme,
                            start=local(4, 9), end=local(4, 10), purpose="theirs")
    r = key_client(sme).post("/api/v1/calendar-feeds/", {"name": "Our trials"}, format="json")
    assert r.status_code == 201
    url = r.json()["url"]
    calendar = parse_feed(api_client, url)  # no login: the token is the credential
    events = {e["uid"]: e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"booking-{mine.pk}@testbed", f"booking-{gone.pk}@testbed"}
    event = events[f"booking-{mine.pk}@testbed"]
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start == mine.start and end == mine.end
    assert start.tzinfo.key == "Asia/Shanghai" if isinstance(start.tzinfo, ZoneInfo) else True
    assert event["dtstart"].params["TZID"] == "Asia/Shanghai"
    assert calendar.walk("VTIMEZONE"), "time zone definitions are included"
    assert str(events[f"booking-{gone.pk}@testbed"]["status"]) == "CANCELLED"
    assert str(event["status"]) == "CONFIRMED"
    assert int(events[f"booking-{gone.pk}@testbed"]["sequence"]) == 1


def test_operator_equipment_feed_and_revocation(hub, category, sme, operator, other_operator,
                                                api_client):
    a = make_equipment(hub, category, "a")
    b = make_equipment(hub, category, "b")
    services.create_booking(equipment_id=a.pk, organization=sme, start=local(2, 9),
                            end=local(2, 10), purpose="x")
    services.create_booking(equipment_id=b.pk, organization=sme, start=local(2, 9),
                            end=local(2, 10), purpose="x")
    client = key_client(operator)
    r = client.post("/api/v1/calendar-feeds/", {"equipment": a.pk}, format="json")
    assert r.status_code == 201
    calendar = parse_feed(api_client, r.json()["url"])
    (event,) = calendar.walk("VEVENT")
    assert sme.name in str(event["summary"])  # the operator sees who booked
    assert key_client(other_operator).post("/api/v1/calendar-feeds/", {"equipment": a.pk},
                                           format="json").status_code == 404
    assert key_client(sme).post("/api/v1/calendar-feeds/", {"equipment": a.pk},
                                format="json").status_code == 403
    assert client.delete(f"/api/v1/calendar-feeds/{r.json()['id']}/").status_code == 204
    assert api_client.get(r.json()["url"]).status_code == 404
    assert api_client.get("/calendar/not-a-token.ics").status_code == 404


def test_webhooks_api(operator, other_operator, sme):
    client = key_client(operator)
    r = client.post("/api/v1/webhooks/", {"url": "https://erp.example/hooks",
                                          "event_types": ["booking.*", "trial.collected"]},
                    format="json")
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    hook_id = r.json()["id"]
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook_id}/").json()
    assert key_client(other_operator).get(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    assert key_client(other_operator).get("/api/v1/webhooks/").json()["count"] == 0
    bad = client.post("/api/v1/webhooks/", {"url": "https://erp.example/h",
                                            "event_types": ["bookings.*"]}, format="json")
    assert bad.status_code == 400
    errors = bad.json()["errors"]
    assert list(errors) == ["event_types"] and len(errors["event_types"]) == 1
    assert errors["event_types"][0].startswith(  # then the event types there are
        "No event type matches bookings.*; known: booking.cancelled, booking.checked_in")
    assert key_client(sme).post("/api/v1/webhooks/", {"url": "https://x.example/",
                                                      "event_types": ["*"]},
                                format="json").status_code == 403
    WebhookEndpoint.objects.filter(pk=hook_id).update(active=False, consecutive_failures=10,
                                                      disabled_reason="failing")
    r = client.patch(f"/api/v1/webhooks/{hook_id}/", {"active": True}, format="json")
    assert r.status_code == 200 and r.json()["consecutive_failures"] == 0
    assert client.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 204


def test_readyz_reports_outbox_and_command_retries_stuck(client, settings):
    OutboxMessage.objects.create(channel="email", event_type="booking.confirmed",
                                 dedupe_key="k1", recipient="a@example.com", message_id="m1",
                                 payload={"subject": "s", "body": "b"}, status="failed",
                                 attempts=8, last_error="SMTP down")
    body = client.get("/readyz").json()
    assert body["checks"]["outbox"]["failed"] == 1
    out = StringIO()
    call_command("outbox", stdout=out)
    assert "SMTP down" in out.getvalue()
    call_command("outbox", "--retry", stdout=StringIO())
    assert OutboxMessage.objects.get().status == "sent"


def test_one_log_line_per_request_with_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="testbed.request"):
        r = client.get("/healthz", HTTP_X_REQUEST_ID="trace-42")
    assert r["X-Request-ID"] == "trace-42"
    (record,) = [rec for rec in caplog.records if rec.name == "testbed.request"]
    assert (record.request_id, record.status, record.path) == ("trace-42", 200, "/healthz")
    from pythonjsonlogger.json import JsonFormatter

    line = JsonFormatter("%(levelname)s %(message)s %(request_id)s").format(record)
    assert json.loads(line)["request_id"] == "trace-42"
    assert timedelta(0) <= timedelta(milliseconds=record.duration_ms)


def test_a_suspended_organisations_feeds_answer_404_until_reinstated(equipment, sme, api_client,
                                                                      admin_user):
    from organizations import services as org_services

    services.create_booking(equipment_id=equipment.pk, organization=sme, start=local(2, 9),
                            end=local(2, 10), purpose="x")
    url = key_client(sme).post("/api/v1/calendar-feeds/", {}, format="json").json()["url"]
    assert api_client.get(url).status_code == 200
    org_services.suspend_organization(organization=sme, reason="unpaid", by=admin_user)
    assert api_client.get(url).status_code == 404
    org_services.reinstate_organization(organization=sme, by=admin_user)
    assert api_client.get(url).status_code == 200
