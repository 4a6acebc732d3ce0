"""Structured logs: one JSON line per request and per task, each carrying its request id
or task id, so a booking can be followed from the HTTP call to the work it caused."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from celery import signals

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")

request_log = logging.getLogger("testbed.request")
task_log = logging.getLogger("testbed.task")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``task_id`` to every record (for the JSON formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", "") or request_id_var.get()
        record.task_id = getattr(record, "task_id", "") or task_id_var.get()
        return True


# URL parts under these names are credentials (calendar feed and invitation tokens,
# allauth's e-mail confirmation and password reset keys): never written to a log.
SECRET_URL_KWARGS = frozenset({"token", "key", "uidb36", "uidb64", "secret"})


def loggable_path(request) -> str:
    """The request's path with every credential the URL carries replaced."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name, value in (match.kwargs.items() if match else ()):
        if name in SECRET_URL_KWARGS and value:
            path = path.replace(str(value), "[redacted]")
    return path


class RequestLogMiddleware:
    """Takes the caller's ``X-Request-ID`` (if sane) or makes one, returns it, and logs
    one line per request: method, path, status, duration, organisation."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        request.request_id = rid
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        org = getattr(getattr(request, "user", None), "organization", None)
        path = loggable_path(request)
        request_log.info(
            "%s %s %s", request.method, path, response.status_code,
            extra={"request_id": rid, "method": request.method, "path": path,
                   "status": response.status_code,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                   "organization": getattr(org, "slug", None)})
        return response


_task_started: dict[str, float] = {}


@signals.task_prerun.connect(dispatch_uid="core.task_prerun")
def _task_prerun(task_id=None, **kwargs):
    task_id_var.set(task_id or "")
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect(dispatch_uid="core.task_postrun")
def _task_postrun(task_id=None, task=None, state=None, retval=None, **kwargs):
    started = _task_started.pop(task_id, None)
    task_log.info(
        "%s %s", getattr(task, "name", "?"), state,
        extra={"task_id": task_id, "task": getattr(task, "name", None), "state": state,
               "duration_ms": round((time.perf_counter() - started) * 1000, 1)
               if started else None})
    task_id_var.set("")
