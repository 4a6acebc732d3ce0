"""The API's request path (core.middleware): no session, login, messages, CSRF or htmx
for /api/, the caller's language still honoured; the portal runs all of it as before."""

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from bookings.errors import TOO_SHORT
from core import middleware
from equipment.wording import duration
from tests.fixtures.world import local

pytestmark = pytest.mark.django_db


def booking_body(equipment, start, end):
    return {"equipment": equipment.pk, "start": start.isoformat(), "end": end.isoformat(),
            "purpose": "Trial"}


def test_api_responses_carry_no_session(sme_client, equipment):
    response = sme_client.post("/api/v1/bookings/",
                               booking_body(equipment, local(2, 9), local(2, 11)),
                               format="json")
    assert response.status_code == 201
    assert not response.cookies  # neither a session nor a CSRF cookie
    vary = response.get("Vary", "")
    assert "Cookie" not in vary and "Accept-Language" in vary
    assert response["Content-Language"] == "en"
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert not hasattr(request, "htmx")
    assert request.user.organization.kind == "sme"  # set by the key, not by a session


def test_an_api_post_needs_no_csrf_token(equipment, sme):
    from tests.factories import api_key_for

    client = Client(enforce_csrf_checks=True,
                    HTTP_AUTHORIZATION=f"Bearer {api_key_for(sme)}")
    response = client.post("/api/v1/bookings/",
                           booking_body(equipment, local(2, 9), local(2, 11)),
                           content_type="application/json")
    assert response.status_code == 201


def test_the_portal_still_has_sessions_and_csrf():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert hasattr(page.wsgi_request, "session") and hasattr(page.wsgi_request, "htmx")
    assert settings.CSRF_COOKIE_NAME in page.cookies
    refused = client.post("/accounts/login/", {"login": "a@b.test", "password": "x"})
    assert refused.status_code == 403  # no CSRF token: the portal's forms stay protected


def test_api_errors_in_the_callers_language(sme_client, equipment):
    response = sme_client.post("/api/v1/bookings/",
                               booking_body(equipment, local(2, 9), local(2, 9, 30)),
                               format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"
    with translation.override("zh-hans"):
        expected = TOO_SHORT.text(d=duration(equipment.min_duration))
    assert response.json()["errors"]["end"] == [expected]


def test_the_language_of_one_request_does_not_leak_into_the_next(client, sme_client,
                                                                 equipment):
    assert client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans")[
        "Content-Language"] == "zh-hans"
    response = sme_client.post("/api/v1/bookings/",
                               booking_body(equipment, local(2, 9), local(2, 9, 30)),
                               format="json")
    assert response["Content-Language"] == "en"
    with translation.override("en"):
        expected = TOO_SHORT.text(d=duration(equipment.min_duration))
    assert response.json()["errors"]["end"] == [expected]


def test_portal_only_middleware_keep_the_originals_for_djangos_checks():
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    assert issubclass(middleware.SessionMiddleware, SessionMiddleware)
    assert issubclass(middleware.AuthenticationMiddleware, AuthenticationMiddleware)
    assert "core.middleware.SessionMiddleware" in settings.MIDDLEWARE
    assert not any(entry.startswith(("django.contrib.sessions", "django.middleware.locale",
                                      "django.contrib.auth", "django.contrib.messages"))
                   for entry in settings.MIDDLEWARE)
    # Django's own CSRF entry stays (check --deploy looks for it by name).
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_middleware_with_view_hooks_cannot_be_made_portal_only():
    from django.middleware.csrf import CsrfViewMiddleware

    with pytest.raises(TypeError, match="process_view"):
        middleware.portal_only(CsrfViewMiddleware)
