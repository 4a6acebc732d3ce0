"""The demo equipment data gateway over HTTP (so the HTTP result source can be tried
against a live endpoint): ``GET /demo-gateway/<equipment id>/?start=…&end=…`` → CSV."""

from datetime import datetime, timedelta

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound

from equipment.models import Equipment

from .sources.demo import render_csv

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
