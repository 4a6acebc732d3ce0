"""The webhook-endpoint concern above core: what an endpoint's owner is told.

Core keeps the endpoint (model, service, delivery, and the rule that disables an endpoint
after ``outbox.DISABLE_AFTER_FAILURES`` failures in a row); the organisation that owns it
hears about it here. Connected by OrganizationsConfig.ready."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils.translation import gettext as _

from core import outbox
from core.models import WebhookEndpoint
from core.notify import bilingual, link, page_url, subject_line

from .selectors import operator_recipients


@receiver(outbox.endpoint_disabled, dispatch_uid="organizations.endpoint_disabled")
def tell_owner_endpoint_disabled(sender, *, endpoint: WebhookEndpoint, **kwargs):
    """The endpoint's organisation (its admins and operators) hears that its endpoint was
    switched off, in the transaction that disables it."""

    def one_language() -> tuple[str, str]:
        return (subject_line(_("Webhook endpoint disabled"), endpoint.url),
                _("After %(n)d failed deliveries in a row, %(url)s was disabled. Fix it and "
                  "re-enable it through the API (PATCH /api/v1/webhooks/%(id)d/ "
                  "{\"active\": true}) or in the console.") % {
                    "n": endpoint.consecutive_failures, "url": endpoint.url, "id": endpoint.pk}
                + "\n".join(["", *link(page_url("console:webhooks"))]))

    subject, body = bilingual(one_language)
    for address in operator_recipients(endpoint.organization_id):
        outbox.queue_email(event_type="webhook.disabled",
                           dedupe_key=f"endpoint-disabled:{endpoint.pk}:"
                                      f"{endpoint.disabled_at:%Y%m%d%H%M%S}",
                           to=address, subject=subject, body=body)
