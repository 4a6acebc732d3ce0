"""The console's API keys (admins only; shown once; revoked keys stop working) and webhook
endpoints (the secret shown once; disable, re-enable with a fresh start, delete; recent
deliveries)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import OutboxMessage, WebhookEndpoint
from organizations.models import OrganizationAPIKey

from .test_setup_world import make_endpoint, make_key

pytestmark = pytest.mark.django_db

KEYS = "/console/api-keys/"


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_the_key_is_shown_once_works_and_stops_when_revoked(console_admin, operator):
    response = console_admin.post(reverse("console:api-keys"), {"name": "MES line 3"})
    assert response.status_code == 302
    page = console_admin.get(response["Location"])
    key = page.context["new_key"]["key"]
    assert key.encode() in page.content
    assert "no-store" in page["Cache-Control"]  # the page with the key is never cached
    stored = OrganizationAPIKey.objects.get(organization=operator)
    assert stored.name == "MES line 3" and key.startswith(stored.prefix)
    again = console_admin.get(reverse("console:api-keys"))
    assert key.encode() not in again.content and stored.prefix.encode() in again.content

    assert api(key).get("/api/v1/bookings/").status_code == 200
    revoked = console_admin.post(
        reverse("console:api-key-revoke", args=[stored.prefix]), follow=True
    )
    assert revoked.status_code == 200
    stored.refresh_from_db()
    assert stored.revoked
    assert api(key).get("/api/v1/bookings/").status_code == 401


def test_members_without_the_admin_role_get_403(console_member, operator):
    key, _secret = make_key(operator)
    assert console_member.get(reverse("console:api-keys")).status_code == 403
    assert console_member.post(reverse("console:api-keys"), {"name": "x"}).status_code == 403
    assert (
        console_member.post(reverse("console:api-key-revoke", args=[key.prefix])).status_code == 403
    )
    key.refresh_from_db()
    assert not key.revoked
    assert OrganizationAPIKey.objects.count() == 1


def test_another_organisations_key_is_not_found(console_admin, other_operator):
    theirs, _secret = make_key(other_operator)
    response = console_admin.post(reverse("console:api-key-revoke", args=[theirs.prefix]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert not theirs.revoked
    page = console_admin.get(reverse("console:api-keys"))
    assert theirs.prefix.encode() not in page.content


def test_a_key_needs_a_name(console_admin):
    response = console_admin.post(reverse("console:api-keys"), {"name": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not OrganizationAPIKey.objects.exists()


# --- webhooks ---------------------------------------------------------------------------


def test_the_webhook_secret_is_shown_once(console_member, operator):
    response = console_member.post(
        reverse("console:webhooks"),
        {
            "url": "https://operator.example/hooks",
            "description": "MES",
            "event_types": ["booking.*", "trial.collected"],
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(organization=operator)
    assert endpoint.event_types == ["booking.*", "trial.collected"]
    page = console_member.get(reverse("console:webhooks"))
    assert endpoint.secret.encode() in page.content
    again = console_member.get(reverse("console:webhooks"))
    assert endpoint.secret.encode() not in again.content
    assert b"https://operator.example/hooks" in again.content


def test_a_refused_address_is_shown_at_its_field(console_member):
    response = console_member.post(
        reverse("console:webhooks"),
        {"url": "https://169.254.169.254/latest", "event_types": ["booking.*"]},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_disable_and_re_enable_resets_the_failure_count(console_member, operator):
    endpoint = make_endpoint(operator)
    url = reverse("console:webhook-active", args=[endpoint.pk])
    console_member.post(url, {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=10)
    console_member.post(url, {"active": "1"})
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 0


def test_recent_deliveries_are_listed_with_their_status(console_member, operator):
    endpoint = make_endpoint(operator)
    OutboxMessage.objects.create(
        channel=OutboxMessage.Channel.WEBHOOK,
        event_type="booking.confirmed",
        dedupe_key="t-1",
        recipient=endpoint.url,
        endpoint=endpoint,
        message_id="msg_1",
        payload={},
        status=OutboxMessage.Status.FAILED,
        attempts=10,
        last_error="HTTP 500 from the receiver",
    )
    page = console_member.get(reverse("console:webhooks"))
    assert b"booking.confirmed" in page.content
    assert b"HTTP 500 from the receiver" in page.content
    assert b"badge failed" in page.content


RECORDED = ["did not answer in time", "did not accept it", "endpoint disabled",
            "deliveries in a row failed"]


@pytest.mark.parametrize(("language", "shown", "absent"), [
    ("en", ["timeout: the receiver did not answer in time",
            "HTTP 503: the receiver did not accept it", "endpoint disabled",
            "Disabled on", "10 failed deliveries in a row."], []),
    ("zh-hans", ["timeout: 接收方未及时应答", "HTTP 503：接收方未接受", "端点已停用",
                 "连续10次送达失败。"], RECORDED),
])
def test_delivery_errors_and_why_an_endpoint_stopped_are_in_the_pages_language(
        console_member, operator, language, shown, absent):
    """The outbox records its errors in English (the API and the admin read them so); the
    console shows each in its reader's language."""
    from django.utils import timezone

    from core import outbox, webhooks

    endpoint = make_endpoint(operator)
    for i, error in enumerate([webhooks.ERROR_TIMEOUT, "HTTP 503", webhooks.ENDPOINT_DISABLED]):
        OutboxMessage.objects.create(
            channel=OutboxMessage.Channel.WEBHOOK, event_type="booking.confirmed",
            dedupe_key=f"t-{i}", recipient=endpoint.url, endpoint=endpoint,
            message_id=f"msg_{i}", payload={}, status=OutboxMessage.Status.FAILED, attempts=1,
            last_error=error)
    for _ in range(outbox.DISABLE_AFTER_FAILURES):
        outbox._account_endpoint(endpoint.pk, ok=False, now=timezone.now())
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False,
                                                           "10 deliveries in a row failed")
    console_member.cookies["django_language"] = language
    page = console_member.get(reverse("console:webhooks")).content.decode()
    assert all(text in page for text in shown), [t for t in shown if t not in page]
    assert not [text for text in absent if text in page]


def test_delete(console_member, operator):
    endpoint = make_endpoint(operator)
    response = console_member.post(reverse("console:webhook-delete", args=[endpoint.pk]))
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_another_operators_endpoint_is_not_found(console_admin, other_operator):
    theirs = make_endpoint(other_operator)
    for name, data in (("console:webhook-active", {"active": "0"}), ("console:webhook-delete", {})):
        assert console_admin.post(reverse(name, args=[theirs.pk]), data).status_code == 404
    theirs.refresh_from_db()
    assert theirs.active
    page = console_admin.get(reverse("console:webhooks"))
    assert page.context["endpoints"] == []


def test_the_keys_link_is_shown_to_admins_only(console_admin, console_member):
    url = reverse("console:api-keys").encode()
    assert url in console_admin.get(reverse("console:equipment")).content
    assert url not in console_member.get(reverse("console:equipment")).content
