"""Portal glue: a service's refusal shown on the form that asked for the change."""

from __future__ import annotations

from django import forms

from .errors import DomainError, ValidationFailed, Violation


def add_errors(form: forms.Form, refusal: DomainError | list[Violation], *,
               rename: dict[str, str] | None = None) -> None:
    """Put a refusal on ``form``: each violation next to its field (``rename`` maps the
    service's field names to the form's; a field the form lacks goes to the top), any other
    domain error at the top. The messages are the errors' own (the catalogue's, translated
    where they were raised)."""
    if isinstance(refusal, DomainError) and not isinstance(refusal, ValidationFailed):
        form.add_error(None, refusal.message)
        return
    violations = refusal.violations if isinstance(refusal, ValidationFailed) else refusal
    rename = rename or {}
    for violation in violations:
        field = rename.get(violation.field, violation.field)
        form.add_error(field if field in form.fields else None, violation.message)
