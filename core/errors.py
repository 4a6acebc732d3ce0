"""One exception hierarchy for domain errors.

Services raise these; the API exception handler (``core.api``) and the portal turn
them into responses. Each carries a stable ``code`` that tests and clients match on,
a human ``message``, and ``extra`` data (e.g. field errors or the conflicting slot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One broken rule: a stable code, the input field it concerns, and a message."""

    code: str
    field: str
    message: str


class DomainError(Exception):
    status = 400
    title = "Bad request"
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra: dict[str, Any] = extra or {}


class ValidationFailed(DomainError):
    """Input breaks one or more rules; ``violations`` lists them all."""

    status = 400
    title = "Invalid input"
    default_code = "invalid"

    def __init__(self, violations: list[Violation], message: str = "The input is not valid."):
        super().__init__(message, code="invalid")
        self.violations = violations

    @classmethod
    def single(cls, code: str, field: str, message: str) -> ValidationFailed:
        return cls([Violation(code, field, message)])

    def field_errors(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for v in self.violations:
            errors.setdefault(v.field, []).append(v.message)
        return errors


class NotFound(DomainError):
    status = 404
    title = "Not found"
    default_code = "not_found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    default_code = "forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    default_code = "conflict"


class Busy(DomainError):
    """A lock could not be had in time; the client may retry."""

    status = 503
    title = "Busy, retry"
    default_code = "busy"


@dataclass
class Problem:
    """An RFC 9457 problem document."""

    status: int
    title: str
    detail: str
    code: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://testbed.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


MAX_ID = 2**63 - 1


def valid_id(value) -> int | None:
    """``value`` as a database id (1 … 2⁶³−1), or None: an id from a URL or body that no
    row can have is 'not found', never a database overflow error."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None
