"""DRF glue: problem+json errors for every failure, and JSON 404/500 for /api/ paths."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .db import is_lock_timeout
from .errors import (
    FORBIDDEN,
    INVALID_INPUT,
    NOT_FOUND,
    Busy,
    DomainError,
    Problem,
    ValidationFailed,
)
from .parsers import TOO_BIG_MESSAGE

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Invalid input",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    429: "Too many requests",
}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail → ``{"field": ["message", …]}`` (dotted paths for nesting)."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for i, sub in enumerate(value):
                    walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def problem_response(problem: Problem, headers: dict | None = None) -> Response:
    response = Response(problem.as_dict(), status=problem.status, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_for(exc: Exception) -> Problem | None:
    if isinstance(exc, DatabaseUnavailable):
        return busy_problem() if is_lock_timeout(exc) else unavailable_problem()
    if isinstance(exc, ValidationFailed):
        return Problem(exc.status, exc.title, exc.message, exc.code, exc.field_errors(), exc.extra)
    if isinstance(exc, DomainError):
        return Problem(exc.status, exc.title, exc.message, exc.code, extra=exc.extra)
    if isinstance(exc, DjangoValidationError):
        return problem_for(ValidationFailed.from_django(exc))
    if isinstance(exc, RequestDataTooBig):
        return Problem(413, "Payload too large", str(TOO_BIG_MESSAGE), "payload_too_large")
    if isinstance(exc, Http404):
        return problem_for(NOT_FOUND.error())
    if isinstance(exc, DjangoPermissionDenied):
        return problem_for(FORBIDDEN.error())
    if isinstance(exc, exceptions.APIException):
        code = exc.status_code
        if isinstance(exc, exceptions.ValidationError):
            return Problem(400, "Invalid input", str(INVALID_INPUT), "invalid",
                           _flatten(exc.detail))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Problem(code, _TITLES.get(code, "Error"), str(detail),
                       str(getattr(exc.detail, "code", None) or exc.default_code))
    return None


# The database could not be reached (refused, reset, timed out): a 503 the client may
# retry, not a 500 — nothing was written, since the transaction never committed. A lock
# wait that ran out is an OperationalError too, but the database is there: that is a
# 503 "busy" (as ``core.errors.Busy``), with a shorter Retry-After.
DatabaseUnavailable = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
BUSY_RETRY_AFTER_SECONDS = 1


def unavailable_problem() -> Problem:
    return Problem(503, "Service unavailable", _("The service cannot reach its database right "
                                                 "now; nothing was changed. Retry in a few "
                                                 "seconds."), "unavailable")


def busy_problem() -> Problem:
    return Problem(503, Busy.title, _("What this request needs is locked by another change "
                                      "right now; nothing was changed. Retry in a moment."),
                   Busy.default_code)


def _retry_after(problem: Problem) -> str:
    return str(BUSY_RETRY_AFTER_SECONDS if problem.code == Busy.default_code
               else RETRY_AFTER_SECONDS)


def problem_exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: every error the API returns is application/problem+json."""
    problem = problem_for(exc)
    if problem is None:
        return exception_handler(exc, context)
    headers = {}
    response = exception_handler(exc, context) if isinstance(exc, exceptions.APIException) else None
    if response is not None:
        for name in ("WWW-Authenticate", "Retry-After", "Allow"):
            if name in response:
                headers[name] = response[name]
    if problem.status == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers["Retry-After"] = _retry_after(problem)
        logger.warning("%s: %s", "Busy" if problem.code == Busy.default_code
                       else "Database unavailable", exc.__class__.__name__)
    if problem.status == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in headers:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return problem_response(problem, headers)


def _json_problem(problem: Problem) -> JsonResponse:
    return JsonResponse(problem.as_dict(), status=problem.status,
                        content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt  # it changes nothing; an unsafe method gets the same 404, not a CSRF page
def api_not_found(request, exception=None):
    return _json_problem(Problem(404, "Not found", _("No such resource."), "not_found"))


def api_server_error(request):
    return _json_problem(Problem(500, "Server error", _("Something went wrong on our side; "
                                                        "it has been logged."), "server_error"))


class DatabaseUnavailableMiddleware:
    """Outside DRF views (portal, health, feeds) a lost database is a 503 too: problem+json
    under /api/, a plain page elsewhere; never a stack trace."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Busy):
            problem = Problem(503, Busy.title, exception.message, exception.code)
        elif isinstance(exception, DatabaseUnavailable):
            problem = busy_problem() if is_lock_timeout(exception) else unavailable_problem()
        else:
            return None
        busy = problem.code == Busy.default_code
        logger.warning("%s: %s", "Busy" if busy else "Database unavailable",
                       exception.__class__.__name__)
        if request.path.startswith("/api/"):
            response = _json_problem(problem)
        else:
            from django.http import HttpResponse

            text = (_("Busy with another change; please retry in a moment.") if busy
                    else _("Service temporarily unavailable; please retry shortly."))
            response = HttpResponse(f"{text}\n", status=503,
                                    content_type="text/plain; charset=utf-8")
        response["Retry-After"] = _retry_after(problem)
        return response
