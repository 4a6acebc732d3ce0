"""Error pages: problem+json under /api/, HTML elsewhere."""

from django.views.defaults import page_not_found, server_error

from .api import api_not_found, api_server_error


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
