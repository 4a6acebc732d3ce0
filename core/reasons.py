"""Reasons the platform writes into records in no person's words, and shows in the
reader's language.

A reason a person types (an operator's rejection, an SME's cancellation) is stored and
shown as typed. A reason the platform writes itself (a sweep marking a no-show, a
maintenance window cancelling bookings, the collector checking a booking in) is
catalogued like an error code (:mod:`core.errors`): a stable ``code`` defined once, in the
``reasons`` module of the app that writes it, with a translatable text whose ``%(name)s``
parameters the writer fills in. Its record keeps the code and the parameters beside the
English text (the text is what search, exports and webhooks read; machines match on the
code), and every page, e-mail and API answer shows it in its reader's language
(:func:`shown`).

    NO_CHECK_IN = define("no_check_in", _("No check-in within %(minutes)s minutes of …"))
    service(booking_id=…, reason=NO_CHECK_IN.of(minutes=15))   # a str: the English text
"""

from __future__ import annotations

from typing import Any

from django.utils import translation


class Reason(str):
    """A catalogued reason as written: the English text (so it goes wherever a typed
    reason goes), with its ``code`` and its parameters (``args``)."""

    code: str
    args: dict[str, Any]

    def __new__(cls, code: ReasonCode, args: dict[str, Any]):
        with translation.override("en"):
            self = super().__new__(cls, code.text(args))
        self.code, self.args = str(code), args
        return self


class ReasonCode(str):
    """One catalogued reason: the bare code string, and its translatable ``message``."""

    message: Any

    def __new__(cls, code: str, message: Any):
        self = super().__new__(cls, code)
        self.message = message
        return self

    def text(self, args: dict[str, Any]) -> str:
        """The reason in the active language, its parameters filled in."""
        return str(self.message % args) if args else str(self.message)

    def of(self, **args: Any) -> Reason:
        return Reason(self, args)


CATALOGUE: dict[str, ReasonCode] = {}


def define(code: str, message: Any) -> ReasonCode:
    """Add ``code`` to the catalogue, once: a second definition of a code is a mistake."""
    if code in CATALOGUE:
        raise ValueError(f"Reason code {code!r} is defined twice.")
    CATALOGUE[code] = ReasonCode(code, message)
    return CATALOGUE[code]


def stored(reason: str) -> dict[str, Any]:
    """The record's fields for ``reason``: its text, and for a catalogued one its code and
    parameters (``reason``, ``reason_code``, ``reason_args``)."""
    if isinstance(reason, Reason):
        return {"reason": str.__str__(reason), "reason_code": reason.code,
                "reason_args": reason.args or None}
    return {"reason": reason, "reason_code": "", "reason_args": None}


def shown(code: str, args: dict[str, Any] | None, text: str) -> str:
    """What a reader sees of a recorded reason, in the active language: a catalogued
    reason in its words, anything else (typed by a person, or a code no longer in the
    catalogue) as it was stored."""
    entry = CATALOGUE.get(code) if code else None
    if entry is None:
        return text
    try:
        return entry.text(args or {})
    except (KeyError, TypeError, ValueError):  # parameters of another version of the text
        return text
