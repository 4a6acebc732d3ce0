"""``/calendar/<token>.ics``: the subscription feed itself, for calendar clients."""

from __future__ import annotations

from django.http import Http404, HttpResponse

from .ics import render_feed
from .selectors import feed_by_token


def calendar_feed(request, token: str):
    """The feed itself: no login (calendar clients can't), the unguessable token is the
    credential."""
    feed = feed_by_token(token)
    if feed is None:
        raise Http404("No such calendar feed.")
    response = HttpResponse(render_feed(feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="testbed-{feed.pk}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
