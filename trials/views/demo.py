"""Demo endpoints, so every flow works in ``make run`` without outside systems: the
equipment data gateway over HTTP (``GET /demo-gateway/<equipment id>/?start=…&end=…`` →
CSV) and a partner university's webhook receiver."""

import logging
from datetime import datetime, timedelta

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from equipment.models import Equipment

from ..models import SharingAgreement
from ..sources.demo import render_csv

logger = logging.getLogger(__name__)

MAX_SPAN = timedelta(days=2)


def demo_gateway(request, equipment_id: int):
    equipment = Equipment.objects.select_related("category").filter(pk=equipment_id).first()
    if equipment is None:
        return HttpResponseNotFound("no such equipment\n")
    try:
        start = datetime.fromisoformat(request.GET["start"])
        end = datetime.fromisoformat(request.GET["end"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest("start and end must be ISO 8601 with an offset\n")
    if start.utcoffset() is None or end.utcoffset() is None or not start < end <= start + MAX_SPAN:
        return HttpResponseBadRequest("start < end, with offsets, at most 2 days apart\n")
    body = render_csv(equipment.category.slug, f"{equipment.pk}:{start.isoformat()}", start, end)
    return HttpResponse(body, content_type="text/csv")


@csrf_exempt
@require_POST
def demo_university_webhook(request, university_slug: str):
    """A partner university's receiving endpoint, for the demo: verifies the Standard
    Webhooks signature with the secret of one of the university's agreements and answers
    200 (the receipt) — so a release made in ``make run`` completes end to end."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    secrets = SharingAgreement.objects.filter(university__slug=university_slug).values_list(
        "signing_secret", flat=True)
    for secret in secrets:
        try:
            payload = Webhook(secret).verify(request.body, headers)
        except WebhookVerificationError:
            continue
        logger.info("Demo university %s received %s %s", university_slug, payload.get("type"),
                    headers.get("webhook-id"))
        return JsonResponse({"received": headers.get("webhook-id")})
    return JsonResponse({"error": "signature does not verify"}, status=400)
