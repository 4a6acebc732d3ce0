"""OpenAPI additions that hold for every operation (a drf-spectacular postprocessing
hook): the application/problem+json errors that ``core.api`` answers with, documented on
each operation where they can occur, so clients (and Schemathesis) can rely on them."""

from __future__ import annotations

from .api import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document; more members may follow (e.g. the "
                   "current status of a booking in a conflict).",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "code": {"type": "string", "description": "A stable code to match on."},
        "errors": {
            "type": "object",
            "description": "For invalid input: field → messages (dotted paths for nested "
                           "fields, ``non_field_errors`` for the whole input).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

DESCRIPTIONS = {
    400: "Invalid input; ``errors`` names each field and what is wrong with it.",
    401: "No API key, or an invalid, revoked or expired one.",
    403: "Visible to you, but not for your organisation's kind or role.",
    404: "Not there, or not visible to your organisation.",
    409: "Conflicts with the current state (slot taken, illegal transition, duplicate).",
    413: "The request body is larger than this service accepts.",
    415: "The request body's media type is not accepted here.",
    429: "Too many requests with this key; retry after ``Retry-After`` seconds.",
    503: "Busy or a dependency briefly unavailable; retry.",
}
METHODS = ("get", "post", "put", "patch", "delete")


def _codes(method: str, operation: dict) -> set[int]:
    codes = {401, 403, 404, 429, 503}
    has_body = "requestBody" in operation
    if has_body or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.add(400)
    if method != "get":
        codes |= {400, 409}  # any body sent to a write is parsed, even where none is expected
    if has_body:
        codes |= {413, 415}
    return codes


def add_problem_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: a ``Problem`` component and its error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_codes(method, operation)):
                responses.setdefault(str(code), {"description": DESCRIPTIONS[code],
                                                 "content": content})
    return result
