"""One exception hierarchy for domain errors, and the catalogue of their codes.

Services raise these; the API exception handler (``core.api``) and the portal turn
them into responses. Each carries a stable ``code`` that tests and clients match on,
a human ``message``, and ``extra`` data (e.g. field errors or the conflicting slot).

Every code is defined once (:func:`define`, in the ``errors`` module of the app that
raises it) with its status (the ``DomainError`` class), the input field it concerns and
its translatable message; the raise site fills in the message's parameters
(``SLOT_TAKEN.error(extra=…)``, ``TOO_SHORT.violation(d="1 h")``). Views and forms show
the error's own message: no door re-maps codes to words of its own (Zulip's pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _


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


# The whole refusal's summary (``detail``) when nothing more specific is said: translated
# into the active language when the refusal is made, like each violation's message.
INVALID_INPUT = _("The input is not valid.")


class ValidationFailed(DomainError):
    """Input breaks one or more rules; ``violations`` lists them all."""

    status = 400
    title = "Invalid input"
    default_code = "invalid"

    def __init__(self, violations: list[Violation], message: Any = INVALID_INPUT):
        super().__init__(str(message), code="invalid")
        self.violations = violations

    @classmethod
    def single(cls, code: str, field: str, message: str) -> ValidationFailed:
        return cls([Violation(code, field, message)])

    @classmethod
    def from_django(cls, exc: DjangoValidationError, *, rename: dict[str, str] | None = None,
                    message: Any = INVALID_INPUT) -> ValidationFailed:
        """Django's ``ValidationError`` (from ``full_clean`` or a validator) as violations;
        ``rename`` maps model field names to the input's names."""
        rename = rename or {}
        if hasattr(exc, "error_dict"):
            pairs = [(field, e) for field, errors in exc.error_dict.items() for e in errors]
        else:
            pairs = [("non_field_errors", e) for e in exc.error_list]
        return cls([Violation(e.code or "invalid", rename.get(field, field), str(text))
                    for field, e in pairs for text in e.messages], message)

    def as_django(self) -> DjangoValidationError:
        """For a model's ``clean``, which speaks Django's ValidationError."""
        errors: dict[str, list[DjangoValidationError]] = {}
        for v in self.violations:
            errors.setdefault(v.field, []).append(DjangoValidationError(v.message, code=v.code))
        return DjangoValidationError(errors)

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


class ErrorCode(str):
    """One catalogued error code. It is the bare code string (so it compares, hashes and
    serialises as the code clients match on) and knows its ``kind`` (the DomainError class,
    hence the HTTP status), the input ``field`` a violation of it concerns by default, and
    its ``message``: a translatable text whose ``%(name)s`` parameters the raise site fills
    in, translated into the active language when the error is made."""

    kind: type[DomainError]
    field: str
    message: Any

    def __new__(cls, code: str, kind: type[DomainError], message: Any, field: str = ""):
        self = super().__new__(cls, code)
        self.kind, self.message, self.field = kind, message, field
        return self

    def __reduce__(self):
        return (catalogued, (str(self),))

    @property
    def status(self) -> int:
        return self.kind.status

    def text(self, **params: Any) -> str:
        """The message in the active language, its parameters filled in."""
        # ``message % params`` on the lazy text: a plural (ngettext_lazy with a named
        # number) picks its form from the parameters.
        return str(self.message % params) if params else str(self.message)

    def variant(self, message: Any) -> ErrorCode:
        """The same code with another wording for a special case (e.g. a lead time of
        zero: "the start is in the past"), defined next to the code itself."""
        return ErrorCode(str(self), self.kind, message, self.field)

    def violation(self, field: str | None = None, **params: Any) -> Violation:
        return Violation(str(self), field or self.field, self.text(**params))

    def django(self, **params: Any) -> DjangoValidationError:
        """For a model field validator or ``clean``, which speak Django's ValidationError
        (``full_clean`` turns it back into this code's violation)."""
        return DjangoValidationError(self.text(**params), code=str(self))

    def error(self, *, field: str | None = None, extra: dict | None = None,
              **params: Any) -> DomainError:
        """The exception to raise: a one-violation ValidationFailed for input errors, else
        the code's DomainError with its message and ``extra``."""
        if issubclass(self.kind, ValidationFailed):
            return ValidationFailed([self.violation(field, **params)])
        return self.kind(self.text(**params), code=str(self), extra=extra)


CATALOGUE: dict[str, ErrorCode] = {}


def define(code: str, kind: type[DomainError], message: Any, *, field: str = "") -> ErrorCode:
    """Add ``code`` to the catalogue, once: a second definition of a code is a mistake."""
    if code in CATALOGUE:
        raise ValueError(f"Error code {code!r} is defined twice.")
    CATALOGUE[code] = ErrorCode(code, kind, message, field)
    return CATALOGUE[code]


def catalogued(code: str) -> ErrorCode:
    return CATALOGUE[code]


def error_text(exc: DomainError, *, fields: bool = False) -> str:
    """A refusal as one line (a portal message, an admin message): the error's own
    (translated) message, or, for invalid input, its violations' messages — each after
    its field's name with ``fields`` (for staff in the console)."""
    if isinstance(exc, ValidationFailed):
        return ("; ".join(f"{v.field}: {v.message}" for v in exc.violations) if fields
                else " ".join(v.message for v in exc.violations)) or exc.message
    return exc.message


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
               message: Any = INVALID_INPUT) -> None:
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


# The codes of core's own mechanisms, and those every app shares (periods).
NOT_FOUND = define("not_found", NotFound, _("Not found."))
FORBIDDEN = define("forbidden", Forbidden, _("You may not do this."))
IDEMPOTENCY_KEY_INVALID = define(
    "idempotency_key", ValidationFailed,
    _("Idempotency-Key must be 1 to %(max)d characters."), field="Idempotency-Key")
IDEMPOTENCY_KEY_REUSED = define(
    "idempotency_key_reused", Conflict,
    _("This Idempotency-Key was used with a different request."))
READ_ONLY = define("read_only", ValidationFailed, _("This field is not settable."))
NAIVE_DATETIME = define(
    "naive_datetime", ValidationFailed,
    _("Give the time zone offset, e.g. 2026-12-01T09:00:00+08:00."))
JSON_OBJECT = define("json_object", ValidationFailed, _("Give a JSON object, e.g. {\"axes\": 5}."))
JSON_TOO_LARGE = define("json_too_large", ValidationFailed, _("At most %(limit)d bytes of JSON."))
JSON_TOO_DEEP = define("json_too_deep", ValidationFailed,
                       _("At most %(limit)d levels of nesting."))
END_BEFORE_START = define("end_before_start", ValidationFailed,
                          _("The end must be after the start."), field="end")
RANGE_TOO_LONG = define("range_too_long", ValidationFailed,
                        _("Ask for at most %(days)d days at a time."), field="end")
