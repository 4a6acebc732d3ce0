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
                           "fields, `non_field_errors` for the whole input).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field and what is wrong with it.",
    401: "No API key, or an invalid, revoked or expired one.",
    403: "Visible to you, but not for your organisation's kind or role.",
    404: "Not there, or not visible to your organisation.",
    409: "Conflicts with the current state (slot taken, illegal transition, duplicate).",
    413: "The request body is larger than this service accepts.",
    415: "The request body's media type is not accepted here.",
    429: "Too many requests with this key; retry after `Retry-After` seconds.",
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


# --- Tags and descriptions for integrators ----------------------------------------------
# One tag per resource (the first segment after /api/v1/), in the order of the docs, and
# for every operation a summary and a description written for whoever integrates with
# the API. View docstrings are written for this code's maintainers (and mixins' docstrings
# would otherwise be inherited by every view): the texts below replace them.

TAGS = [
    ("hubs", "Hubs", "The hubs (sites) flagship firms open to SMEs: address, time zone, "
     "opening hours. Operators create and edit their own."),
    ("equipment", "Equipment", "Machines and benches that can be booked, their booking "
     "policy, free periods and (for their operator) the data source their results come "
     "from."),
    ("maintenance-windows", "Maintenance windows", "Periods an operator takes equipment out "
     "of service; creating one cancels the bookings it overlaps."),
    ("bookings", "Bookings", "Requesting, approving, cancelling, checking in and completing "
     "slots on equipment. Every time is given in the hub's offset."),
    ("calendar-feeds", "Calendar feeds", "Secret iCalendar subscription URLs for bookings."),
    ("trials", "Trials", "A trial is what happened during a booking: its measurements, "
     "live readings, summary and gaps, and the SME's consents to share it."),
    ("agreements", "Agreements", "Data-sharing agreements between a hub operator and a "
     "university: the terms under which SMEs consent to share trial results."),
    ("datasets", "Datasets", "Releases of consented trial data delivered to a university, "
     "and their data packages."),
    ("reports", "Reports", "Utilisation and billing for hub operators, as JSON or CSV."),
    ("webhooks", "Webhooks", "Endpoints that receive signed event notifications (Standard "
     "Webhooks)."),
    ("keys", "API keys", "Your organisation's API keys."),
]
_TAG_NAMES = {segment: name for segment, name, _ in TAGS}

_AUTH = ("Authenticate with your organisation's API key: `Authorization: Bearer <key>`. "
         "Objects of other organisations are answered with 404.")
_IDEMPOTENT = (" Send an `Idempotency-Key` header to make a retry safe: a repeat with the "
               "same key and body returns the first response (`Idempotent-Replayed: true`) "
               "and creates nothing; the same key with another body is a 409.")
_HUB_TIME = " Times are ISO 8601 in the hub's offset (e.g. `2026-12-01T09:00:00+08:00`)."

OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("get", "/api/v1/hubs/"): (
        "List hubs", "Every hub, with its operator, address, time zone and opening hours."),
    ("post", "/api/v1/hubs/"): (
        "Create a hub (operators)", "A new hub operated by your (flagship) organisation."
        + _IDEMPOTENT),
    ("get", "/api/v1/hubs/{slug}/"): ("Get a hub", "One hub, by its slug."),
    ("patch", "/api/v1/hubs/{slug}/"): (
        "Update a hub (its operator)", "Change the fields given; only the hub's operator "
        "may."),
    ("get", "/api/v1/equipment/"): (
        "List equipment", "Bookable equipment, filtered by hub, category, capability or a "
        "search text (English or Chinese names)."),
    ("post", "/api/v1/equipment/"): (
        "Create equipment (operators)", "New equipment on one of your hubs, with its "
        "booking policy and, optionally, its result source." + _IDEMPOTENT),
    ("get", "/api/v1/equipment/{id}/"): (
        "Get equipment", "One piece of equipment with its booking policy and status."),
    ("patch", "/api/v1/equipment/{id}/"): (
        "Update equipment (its operator)", "Change the fields given. Marking it down "
        "cancels the bookings it can no longer serve; `cancelled_bookings` names them. A "
        "result source PATCH keeping the kind changes only the fields it names; changing "
        "the kind starts afresh. Secrets are write-only."),
    ("get", "/api/v1/equipment/{id}/availability/"): (
        "Free periods of equipment", "The periods in [start, end) in which a booking of "
        "yours could start and end, after opening hours, maintenance, other bookings and "
        "changeover buffers." + _HUB_TIME),
    ("post", "/api/v1/equipment/{id}/result-source/test/"): (
        "Test the result source (its operator)", "Connects to the equipment's saved result "
        "source, reads a sample and answers `{\"ok\": true, \"kind\", \"metrics\"}` or "
        "`{\"ok\": false, \"kind\", \"error\"}`. Stores nothing. Equipment without a source "
        "is a 409."),
    ("get", "/api/v1/maintenance-windows/"): (
        "List maintenance windows", "Maintenance windows on your equipment."),
    ("post", "/api/v1/maintenance-windows/"): (
        "Plan maintenance (operators)", "Takes the equipment out of service for the period. "
        "Requested and confirmed bookings it overlaps are cancelled with the reason given "
        "and their SMEs notified; `cancelled_bookings` names them. A booking checked in "
        "during the period is a 409." + _IDEMPOTENT),
    ("get", "/api/v1/maintenance-windows/{id}/"): (
        "Get a maintenance window", "One maintenance window on your equipment."),
    ("delete", "/api/v1/maintenance-windows/{id}/"): (
        "Delete a maintenance window", "The equipment is bookable again for the period; "
        "cancelled bookings stay cancelled."),
    ("get", "/api/v1/bookings/"): (
        "List bookings", "Your organisation's bookings (SMEs) or the bookings on your hubs "
        "(operators), filtered by status, equipment, hub and time." + _HUB_TIME),
    ("post", "/api/v1/bookings/"): (
        "Book equipment (SMEs)", "Requests a slot. Every broken booking rule is reported at "
        "once (400, `errors`); a slot taken or too close to another booking is a 409 whose "
        "`conflicts` give the other bookings' `start`, `end` and `blocked_until` in the "
        "hub's offset. Equipment that needs approval gives a `requested` booking, otherwise "
        "`confirmed`." + _HUB_TIME + _IDEMPOTENT),
    ("get", "/api/v1/bookings/{id}/"): (
        "Get a booking", "One booking, with its status, price quote, trial and usage."
        + _HUB_TIME),
    ("post", "/api/v1/bookings/{id}/approve/"): (
        "Approve a booking request (operators)", "A `requested` booking becomes "
        "`confirmed`; the optional reason is shown to the SME."),
    ("post", "/api/v1/bookings/{id}/reject/"): (
        "Reject a booking request (operators)", "A `requested` booking becomes `rejected`; "
        "the reason is shown to the SME."),
    ("post", "/api/v1/bookings/{id}/cancel/"): (
        "Cancel a booking", "The SME or the hub's operator cancels a requested or confirmed "
        "booking, with an optional reason. An SME's late cancellation may be billed."),
    ("post", "/api/v1/bookings/{id}/check-in/"): (
        "Check in (operators)", "Records that the SME arrived at the machine; check-in "
        "opens shortly before the start."),
    ("post", "/api/v1/bookings/{id}/complete/"): (
        "Complete a booking (operators)", "Ends a checked-in booking; the trial's results "
        "are then collected from the equipment."),
    ("get", "/api/v1/calendar-feeds/"): (
        "List calendar feeds", "Your secret iCalendar subscription URLs."),
    ("post", "/api/v1/calendar-feeds/"): (
        "Create a calendar feed", "A secret `/calendar/<token>.ics` URL for your "
        "organisation's bookings or (operators) one equipment's, to subscribe to in a "
        "calendar application." + _IDEMPOTENT),
    ("delete", "/api/v1/calendar-feeds/{id}/"): (
        "Revoke a calendar feed", "Its URL stops working at once."),
    ("get", "/api/v1/trials/{id}/"): (
        "Get a trial", "The trial of a booking (same id): status, summary per metric, gaps "
        "in the data and usage. Visible to the booking's SME and the hub's operator."
        + _HUB_TIME),
    ("get", "/api/v1/trials/{id}/measurements/"): (
        "Trial measurements", "Measurements in time order, in cursor pages (follow the "
        "`next` link), filtered by metric and time; "
        "`?format=csv` gives all of them as one CSV file (UTF-8 with BOM, times in the "
        "hub's offset)." + _HUB_TIME),
    ("get", "/api/v1/trials/{id}/live/"): (
        "Live readings of a trial", "While the booking is checked in: the latest value of "
        "each metric, the last minutes as series (at most 300 points per metric) and gaps; "
        "afterwards, the last values of the slot." + _HUB_TIME),
    ("post", "/api/v1/trials/{id}/results/"): (
        "Upload results (operators)", "Results of a trial as a CSV or JSON body or a "
        "multipart file, for equipment whose results are uploaded." + _IDEMPOTENT),
    ("get", "/api/v1/trials/{id}/consents/"): (
        "List consents of a trial", "Every consent given for the trial, newest first, with "
        "the agreement version and terms each binds."),
    ("post", "/api/v1/trials/{id}/consents/"): (
        "Consent to share a trial (SMEs)", "Consents, under an agreement's current terms, "
        "to release the trial's data to its university after the embargo." + _IDEMPOTENT),
    ("delete", "/api/v1/trials/{id}/consents/{consent_id}/"): (
        "Revoke a consent (SMEs)", "Nothing more is released under it; answers with the "
        "revoked consent."),
    ("get", "/api/v1/agreements/"): (
        "List agreements", "Data-sharing agreements your organisation is part of or may "
        "consent under."),
    ("post", "/api/v1/agreements/"): (
        "Create an agreement (operators)", "An agreement with a university: recipient "
        "endpoint, scope (hub, categories), anonymisation, timestamp shift, embargo and "
        "licence. The response carries the endpoint's signing secret (`whsec_…`) once."
        + _IDEMPOTENT),
    ("get", "/api/v1/agreements/{id}/"): (
        "Get an agreement", "One agreement with its current terms and version."),
    ("patch", "/api/v1/agreements/{id}/"): (
        "Change an agreement (operators)", "Changing a term (anonymize, shift_timestamps, "
        "embargo_days, license, university, hub, categories) makes a new version; consents "
        "stay bound to the version they were given under."),
    ("post", "/api/v1/agreements/{id}/revoke/"): (
        "End an agreement (operators)", "No further releases are made under it."),
    ("post", "/api/v1/agreements/{id}/standing-consent/"): (
        "Give standing consent (SMEs)", "Consent to share every trial of yours that the "
        "agreement covers, earlier and future ones, until you stop it."),
    ("delete", "/api/v1/agreements/{id}/standing-consent/"): (
        "Stop standing consent (SMEs)", "Trials not yet released are no longer shared "
        "under it."),
    ("get", "/api/v1/agreements/{id}/versions/"): (
        "Agreement versions", "Every version of the agreement's terms, newest first."),
    ("get", "/api/v1/datasets/"): (
        "List datasets (universities)", "The releases delivered to your university."),
    ("get", "/api/v1/datasets/{id}/"): (
        "Get a dataset (universities)", "One release delivered to your university."),
    ("get", "/api/v1/datasets/{id}/package/"): (
        "Download a data package (universities)", "The release as a Frictionless Data "
        "Package (zip), under the consented terms."),
    ("get", "/api/v1/reports/utilization/"): (
        "Utilisation report (operators)", "Per equipment of your hubs, and per hub, over "
        "[start, end): open hours (opening hours minus maintenance), booked hours, "
        "utilisation = booked / open, actual hours where the machine reports its state, and "
        "the no-show rate. `?format=csv` for a CSV file (UTF-8 with BOM)."),
    ("get", "/api/v1/reports/billing/"): (
        "Billing report (operators)", "Per SME and equipment on your hubs, for bookings "
        "starting in the month (each hub's time zone), at their price quote: completed and "
        "no-show bookings in full, late cancellations by the SME at the cancellation share, "
        "everything else free. `?format=csv` for a CSV file (UTF-8 with BOM)."),
    ("get", "/api/v1/webhooks/"): (
        "List webhook endpoints", "Your organisation's endpoints and the events each "
        "receives."),
    ("post", "/api/v1/webhooks/"): (
        "Register a webhook endpoint (operators)", "An https endpoint for `booking.*`, "
        "`trial.collected` and `dataset.released` events, signed per Standard Webhooks. The "
        "signing secret (`whsec_…`) is shown once, in this response." + _IDEMPOTENT),
    ("get", "/api/v1/webhooks/{id}/"): ("Get a webhook endpoint", "One of your endpoints."),
    ("patch", "/api/v1/webhooks/{id}/"): (
        "Update a webhook endpoint", "Change its URL or events. An endpoint disabled after "
        "10 failed deliveries in a row is turned back on with `{\"active\": true}`."),
    ("delete", "/api/v1/webhooks/{id}/"): (
        "Delete a webhook endpoint", "No further events are sent to it."),
    ("get", "/api/v1/webhooks/event-types/"): (
        "Webhook event types", "The event types an endpoint may subscribe to, with what "
        "each announces."),
}

# Wording that belongs to the code, not to integrators (a docstring that leaked).
_INTERNAL = ("self.", "``", "Viewset", "mixin", "DESIGN.md", "Gives a view", "queryset",
             "selectors.", "services.", "portal's")
_VERBS = {"get": "Get", "post": "Create", "put": "Replace", "patch": "Update",
          "delete": "Delete"}


def _segment(path: str) -> str:
    rest = path.split("/api/v1/", 1)[-1]
    return rest.split("/", 1)[0]


def _tag(path: str) -> str:
    segment = _segment(path)
    return _TAG_NAMES.get(segment, segment.replace("-", " ").capitalize() or "API")


def _fallback(method: str, path: str, operation: dict) -> tuple[str, str]:
    tag = _tag(path)
    summary = operation.get("summary") or f"{_VERBS.get(method, method.upper())} {tag.lower()}"
    description = operation.get("description") or ""
    if not description or any(mark in description for mark in _INTERNAL):
        description = f"{summary}."
    return summary, description


def document_operations(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: one tag per resource (with its description), and a
    summary and description for integrators on every operation."""
    used = set()
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            tag = _tag(path)
            operation["tags"] = [tag]
            used.add(tag)
            summary, description = OPERATIONS.get((method, path)) or _fallback(
                method, path, operation)
            operation["summary"] = summary
            operation["description"] = f"{description}\n\n{_AUTH}"
    known = [{"name": name, "description": text} for _, name, text in TAGS if name in used]
    extra = [{"name": name} for name in sorted(used - {name for _, name, _ in TAGS})]
    result["tags"] = known + extra
    return result
