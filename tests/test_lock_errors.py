"""A lock wait that ran out is "busy, retry" (503, code busy, short Retry-After) at every
door; only a database that cannot be reached is "unavailable"."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from django.db import OperationalError
from django.test import RequestFactory
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from core.api import DatabaseUnavailableMiddleware
from core.db import is_lock_timeout


def wrapped(driver_error: Exception) -> OperationalError:
    """As Django's database wrapper raises it: its own class, ``from`` the driver's."""
    try:
        try:
            raise driver_error
        except Exception as exc:
            raise OperationalError(*exc.args) from exc
    except OperationalError as django_error:
        return django_error


LOCK_TIMEOUTS = {
    "postgresql lock_timeout": wrapped(psycopg.errors.LockNotAvailable(
        "canceling statement due to lock timeout")),
    "postgresql deadlock": wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
    "sqlite locked": wrapped(sqlite3.OperationalError("database is locked")),
}
UNREACHABLE = {
    "postgresql refused": wrapped(psycopg.OperationalError(
        'connection to server at "127.0.0.1", port 5432 failed: Connection refused')),
    "sqlite unopenable": wrapped(sqlite3.OperationalError("unable to open database file")),
}


@pytest.mark.parametrize("exc", LOCK_TIMEOUTS.values(), ids=LOCK_TIMEOUTS.keys())
def test_lock_timeouts_are_recognised(exc):
    assert is_lock_timeout(exc)


@pytest.mark.parametrize("exc", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_connection_failures_are_not_lock_timeouts(exc):
    assert not is_lock_timeout(exc)


def raising(exc):
    class View(APIView):
        authentication_classes: list = []
        permission_classes: list = []

        def get(self, request):
            raise exc

    return View.as_view()


@pytest.mark.parametrize("exc", LOCK_TIMEOUTS.values(), ids=LOCK_TIMEOUTS.keys())
def test_the_api_answers_a_lock_timeout_as_busy(exc):
    response = raising(exc)(APIRequestFactory().get("/api/v1/anything/")).render()
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.data["code"] == "busy"
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize("exc", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_the_api_answers_a_lost_database_as_unavailable(exc):
    response = raising(exc)(APIRequestFactory().get("/api/v1/anything/"))
    assert response.status_code == 503
    assert response.data["code"] == "unavailable"
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize(("path", "exc", "code"), [
    ("/api/v1/x/", LOCK_TIMEOUTS["postgresql lock_timeout"], "busy"),
    ("/api/v1/x/", UNREACHABLE["postgresql refused"], "unavailable"),
])
def test_outside_drf_the_middleware_tells_busy_from_unavailable(path, exc, code):
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(RequestFactory().get(path), exc)
    assert response.status_code == 503
    assert f'"code": "{code}"'.encode() in response.content.replace(b'":"', b'": "')
    assert response["Retry-After"] == ("1" if code == "busy" else "5")


def test_portal_pages_say_busy_in_plain_text():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(RequestFactory().get("/bookings/"),
                                            LOCK_TIMEOUTS["sqlite locked"])
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert b"Busy" in response.content
