"""Error pages (problem+json under /api/, the portal's HTML elsewhere, even in the
embedded demo) and the favicon."""

from django.conf import settings
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.defaults import page_not_found, server_error

from .api import api_not_found, api_server_error

# What Django's DEBUG pages carry and the portal's never do.
_TECHNICAL_PAGE_MARK = b'<meta name="robots" content="NONE,NOARCHIVE">'


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def problem_or_html_404(request, exception=None):
    if _is_api(request):
        return api_not_found(request, exception)
    return page_not_found(request, exception)


def problem_or_html_500(request):
    if _is_api(request):
        return api_server_error(request)
    return server_error(request)


class StyledErrorPagesMiddleware:
    """With DEBUG on (the embedded demo, ``make run``) Django answers an unknown page or a
    crash with its technical pages. Where STYLED_ERROR_PAGES is on (the default) visitors
    see the portal's own 404 and 500 pages instead, as in production; the crash is still
    logged with its traceback (``django.request``). STYLED_ERROR_PAGES = False brings Django's
    debugging pages back. Without DEBUG this does nothing: the handlers above answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code in (404, 500) and settings.DEBUG
                and getattr(settings, "STYLED_ERROR_PAGES", True)
                and not getattr(response, "streaming", False)
                and _TECHNICAL_PAGE_MARK in response.content):
            if response.status_code == 404:
                return problem_or_html_404(request)
            return problem_or_html_500(request)
        return response


@cache_control(max_age=86400)
def favicon(request):
    """/favicon.ico, which browsers ask for on their own: the static icon."""
    return HttpResponseRedirect(static("favicon.ico"))
