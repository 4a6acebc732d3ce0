"""One exception hierarchy for domain errors.

Services raise these; the API exception handler (``core.api``) and the portal turn
them into responses. Each carries a stable ``code`` that tests and clients match on,
a human ``message``, and ``extra`` data (e.g. field errors or the conflicting slot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError


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

    @classmethod
    def from_django(cls, exc: DjangoValidationError, *, rename: dict[str, str] | None = None,
                    message: str = "The input is not valid.") -> ValidationFailed:
        """Django's ``ValidationError`` (from ``full_clean`` or a validator) as violations;
        ``rename`` maps model field names to the input's names."""
        rename = rename or {}
        if hasattr(exc, "error_dict"):
            pairs = [(field, e) for field, errors in exc.error_dict.items() for e in errors]
        else:
            pairs = [("non_field_errors", e) for e in exc.error_list]
        return cls([Violation(e.code or "invalid", rename.get(field, field), str(text))
                    for field, e in pairs for text in e.messages], message)

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


def full_clean(instance, *, exclude: list[str] | None = None,
               rename: dict[str, str] | None = None,
               message: str = "The input is not valid.") -> None:
    """``instance.full_clean()``, its errors raised as :class:`ValidationFailed`."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        raise ValidationFailed.from_django(exc, rename=rename, message=message) from None


MAX_ID = 2**63 - 1


def valid_id(value) -> int | None:
    """``value`` as a database id (1 … 2⁶³−1), or None: an id from a URL or body that no
    row can have is 'not found', never a database overflow error."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None
