"""The portal's middleware, skipped on the API's paths.

An API request (``/api/…``) carries its credentials in the ``Authorization`` header on
every call. It has no session to load or save, no user to log in from one, no messages,
no htmx headers. :func:`portal_only` makes a subclass of such a middleware
that hands API requests straight to the next layer, and ``settings.MIDDLEWARE`` names
these subclasses (``core.middleware.SessionMiddleware`` …) where the originals stood, in
the same order, so the portal runs exactly what it ran before. They stay subclasses of
the originals, so Django's checks that look for them (the admin wants the session, auth
and messages middleware) still find them, and the test client runs the same stack as
gunicorn.

The language is the one part the API keeps: its error messages and catalogue names
follow ``Accept-Language`` (modeltranslation reads the active language). For the API,
:class:`LocaleMiddleware` activates the language the request asks for (cookie, then
``Accept-Language``) and says so in the response, without the portal's language-prefixed
URL handling.

Not wrapped: Django's ``CsrfViewMiddleware`` (``check --deploy`` looks for that exact
entry, and its CSRF cookie checks only run with it; on an API request it finds no cookie
and DRF's views are CSRF-exempt, so it costs microseconds), allauth's
``AccountMiddleware`` (allauth refuses to start unless that exact entry is in
``MIDDLEWARE``; for an API request it costs a namespace and a context variable) and the
project's own gates, which already let ``/api/`` through (``organizations.middleware``).
"""

from __future__ import annotations

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import locale
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django_htmx import middleware as htmx

API_PREFIX = "/api/"


def is_api(request) -> bool:
    """Is this a request for the API (its own door: key authentication, problem+json)?"""
    return request.path_info.startswith(API_PREFIX)


def portal_only(middleware: type) -> type:
    """A subclass of the (sync) middleware class ``middleware`` that does nothing for API
    requests: they go straight to the next layer (its ``api_call``). Only for middleware
    that works in ``__call__`` (or process_request/process_response): the handler calls
    view, exception and template hooks itself, past any wrapper."""
    hooks = [name for name in ("process_view", "process_exception",
                               "process_template_response") if hasattr(middleware, name)]
    if hooks:
        raise TypeError(f"{middleware.__name__} has {', '.join(hooks)}: it cannot be "
                        "skipped by path here")

    def __call__(self, request):
        if is_api(request):
            return self.api_call(request)
        return middleware.__call__(self, request)

    def api_call(self, request):
        return self.get_response(request)

    attrs = {"__call__": __call__, "api_call": api_call, "__module__": __name__,
             "__qualname__": middleware.__name__,
             "__doc__": f"{middleware.__module__}.{middleware.__name__}, for the portal only."}
    return type(middleware.__name__, (middleware,), attrs)


SessionMiddleware = portal_only(sessions.SessionMiddleware)
AuthenticationMiddleware = portal_only(auth.AuthenticationMiddleware)
MessageMiddleware = portal_only(messages.MessageMiddleware)
HtmxMiddleware = portal_only(htmx.HtmxMiddleware)


class LocaleMiddleware(portal_only(locale.LocaleMiddleware)):
    """Django's LocaleMiddleware for the portal; for the API only its language step."""

    def api_call(self, request):
        translation.activate(translation.get_language_from_request(request))
        request.LANGUAGE_CODE = language = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        return response
