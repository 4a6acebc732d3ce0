"""Permission matrix: every API v1 endpoint × organisation kind × own/other object.

The routes come from the URL conf (``get_resolver()``), so an endpoint or method added
without a row in ``MATRIX`` fails ``test_matrix_covers_every_endpoint``; a row whose
endpoint went away fails it too. Each row is then exercised against a real world (see
``conftest.py``) with a key of every organisation kind and without a key, on the
caller's own object and on another organisation's; every request runs in a savepoint
that is rolled back, so each cell sees the same world.

Reading the table: one status per kind for a route without an object; ``(own, other)``
for a route naming one, where *own* is the object in the caller's constellation (the hub
it runs, the booking its SME made, the agreement addressed to its university …) and
*other* the same object of constellation B. The contract (DESIGN.md): 2xx allowed, 403
visible but not for your kind or role, 404 not visible to you (never 403 for what you
cannot see), 401 no key. Writes go through the writer's own scope, so a catalog object
of another operator is "not found" for a write although it can be read.

HEAD and OPTIONS are not listed: DRF answers them for every route from GET and the
view's metadata, with the same authentication.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from billing.models import SettlementClaim
from equipment.models import Equipment

from .conftest import DEAD_END, KINDS, Side, World

pytestmark = pytest.mark.django_db

API = "api/v1/"
PROBLEM = "application/problem+json"
Cell = int | tuple[int, int]


def row(flagship: Cell, sme: Cell, university: Cell) -> dict[str, Cell]:
    return {"flagship": flagship, "sme": sme, "university": university}


NOT_VISIBLE = (404, 404)
#                                         flagship     sme          university
MATRIX: dict[tuple[str, str], dict[str, Cell]] = {
    ("", "GET"):                          row(200,         200,         200),
    # catalog: everyone reads; operators write their own
    ("hubs/", "GET"):                     row(200,         200,         200),
    ("hubs/", "POST"):                    row(201,         403,         403),
    ("hubs/{slug}/", "GET"):              row((200, 200),  (200, 200),  (200, 200)),
    ("hubs/{slug}/", "PATCH"):            row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("equipment/", "GET"):                row(200,         200,         200),
    ("equipment/", "POST"):               row(201,         403,         403),
    ("equipment/{pk}/", "GET"):           row((200, 200),  (200, 200),  (200, 200)),
    ("equipment/{pk}/", "PATCH"):         row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("equipment/{pk}/availability/", "GET"): row((200, 200), (200, 200), (200, 200)),
    ("equipment/free/", "GET"):           row(200,         200,         200),
    ("equipment/{pk}/result-source/test/", "POST"): row((200, 404), NOT_VISIBLE, NOT_VISIBLE),
    ("maintenance-windows/", "GET"):      row(200,         200,         200),
    ("maintenance-windows/", "POST"):     row(201,         403,         403),
    ("maintenance-windows/{pk}/", "GET"): row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("maintenance-windows/{pk}/", "DELETE"): row((204, 404), NOT_VISIBLE, NOT_VISIBLE),
    # bookings: SMEs book; operators decide on their hubs; universities see none
    ("bookings/", "GET"):                 row(200,         200,         200),
    ("bookings/", "POST"):                row(403,         201,         403),
    ("bookings/{pk}/", "GET"):            row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("bookings/{pk}/approve/", "POST"):   row((200, 404),  (403, 404),  NOT_VISIBLE),
    ("bookings/{pk}/reject/", "POST"):    row((200, 404),  (403, 404),  NOT_VISIBLE),
    ("bookings/{pk}/cancel/", "POST"):    row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("bookings/{pk}/check-in/", "POST"):  row((200, 404),  (403, 404),  NOT_VISIBLE),
    ("bookings/{pk}/complete/", "POST"):  row((200, 404),  (403, 404),  NOT_VISIBLE),
    ("bookings/{pk}/events/", "GET"):     row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("events/", "GET"):                   row(200,         200,         200),
    # trials: the booking's SME and the hub's operator; the operator uploads, the SME
    # consents
    ("trials/{pk}/", "GET"):              row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("trials/{pk}/measurements/", "GET"): row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("trials/{pk}/live/", "GET"):         row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("trials/{pk}/results/", "POST"):     row((200, 404),  (403, 404),  NOT_VISIBLE),
    ("trials/{pk}/consents/", "GET"):     row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("trials/{pk}/consents/", "POST"):    row((403, 404),  (201, 404),  NOT_VISIBLE),
    ("trials/{pk}/consents/{consent_id}/", "DELETE"): row((403, 404), (200, 404), NOT_VISIBLE),
    # sharing: operators give agreements, universities hold them, SMEs read the active
    # ones (the terms they may consent to) and give standing consent
    ("agreements/", "GET"):               row(200,         200,         200),
    ("agreements/", "POST"):              row(201,         403,         403),
    ("agreements/{pk}/", "GET"):          row((200, 404),  (200, 200),  (200, 404)),
    ("agreements/{pk}/", "PATCH"):        row((200, 404),  (403, 403),  (403, 404)),
    ("agreements/{pk}/versions/", "GET"): row((200, 404),  (200, 200),  (200, 404)),
    ("agreements/{pk}/revoke/", "POST"):  row((200, 404),  (403, 403),  (403, 404)),
    ("agreements/{pk}/standing-consent/", "POST"):   row((403, 404), (204, 204), (403, 404)),
    ("agreements/{pk}/standing-consent/", "DELETE"): row((403, 404), (204, 204), (403, 404)),
    ("datasets/", "GET"):                 row(200,         200,         200),
    ("datasets/{pk}/", "GET"):            row(NOT_VISIBLE, NOT_VISIBLE, (200, 404)),
    ("datasets/{pk}/package/", "GET"):    row(NOT_VISIBLE, NOT_VISIBLE, (200, 404)),
    # operations
    ("webhooks/", "GET"):                 row(200,         200,         200),
    ("webhooks/event-types/", "GET"):     row(200,         200,         200),
    ("webhooks/", "POST"):                row(201,         403,         403),
    ("webhooks/{pk}/", "GET"):            row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("webhooks/{pk}/", "PATCH"):          row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("webhooks/{pk}/", "DELETE"):         row((204, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("webhooks/{pk}/deliveries/", "GET"): row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("calendar-feeds/", "GET"):           row(200,         200,         200),
    ("calendar-feeds/", "POST"):          row(201,         201,         201),
    ("calendar-feeds/{pk}/", "DELETE"):   row((204, 404),  (204, 404),  (204, 404)),
    ("reports/utilization/", "GET"):      row(200,         403,         403),
    ("reports/billing/", "GET"):          row(200,         403,         403),
    # money: SMEs get quotes and hold voucher grants; operators see quotes at their hubs
    ("quotes/", "GET"):                   row(200,         200,         200),
    ("quotes/", "POST"):                  row(403,         201,         403),
    ("quotes/{pk}/", "GET"):              row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("vouchers/", "GET"):                 row(200,         200,         200),
    ("vouchers/{pk}/", "GET"):            row(NOT_VISIBLE, (200, 404),  NOT_VISIBLE),
    # service requests: SMEs ask, the hub's operator answers with an offer
    ("service-requests/", "GET"):         row(200,         200,         200),
    ("service-requests/", "POST"):        row(403,         201,         403),
    ("service-requests/{pk}/", "GET"):    row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("service-requests/{pk}/offer/", "POST"):    row((201, 404), (403, 404), NOT_VISIBLE),
    ("service-requests/{pk}/refuse/", "POST"):   row((200, 404), (403, 404), NOT_VISIBLE),
    ("service-requests/{pk}/accept/", "POST"):   row((403, 404), (201, 404), NOT_VISIBLE),
    ("service-requests/{pk}/decline/", "POST"):  row((403, 404), (200, 404), NOT_VISIBLE),
    ("service-requests/{pk}/withdraw/", "POST"): row((403, 404), (200, 404), NOT_VISIBLE),
    # statements: the operator issues them, the SME reads its own
    ("statements/", "GET"):               row(200,         200,         200),
    ("statements/issue/", "POST"):        row(201,         403,         403),
    ("statements/{pk}/", "GET"):          row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("statements/{pk}/pdf/", "GET"):      row((200, 404),  (200, 404),  NOT_VISIBLE),
    ("statements/{pk}/csv/", "GET"):      row((200, 404),  (200, 404),  NOT_VISIBLE),
    # settlement claims: the provider's; platform staff decide in the admin console
    ("claims/", "GET"):                   row(200,         200,         200),
    ("claims/", "POST"):                  row(200,         403,         403),  # refreshes the draft
    ("claims/{pk}/", "GET"):              row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("claims/{pk}/submit/", "POST"):      row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("claims/{pk}/reopen/", "POST"):      row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("claims/{pk}/evidence/", "GET"):     row((200, 404),  NOT_VISIBLE, NOT_VISIBLE),
    ("reports/vouchers/", "GET"):         row(200,         200,         403),
}


# --- how to call each route ------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """The URL arguments of a route for one side, and a body or query that is valid for
    the kind allowed to make the call (so a refusal is about permission, not input)."""

    args: Callable[[Side, str], dict] = lambda side, kind: {}
    body: Callable[[World, Side], object] | None = None
    query: Callable[[World], dict] | None = None
    content_type: str | None = None  # None: JSON


def _iso(moment) -> str:
    return moment.isoformat()


def _later(world: World, days: int, hours: int = 2) -> tuple[str, str]:
    start = world.now + timedelta(days=days)
    return _iso(start), _iso(start + timedelta(hours=hours))


def _csv(world: World, side: Side) -> bytes:
    start = side.completed.start
    return ("timestamp,metric,value,unit\n" + "".join(
        f"{_iso(start + timedelta(minutes=i))},spindle_load,{50 + i},%\n" for i in range(3))
    ).encode()


def _demo_source(side: Side) -> int:
    """The side's equipment with the built-in demo source (a test that connects nowhere),
    set inside the cell's savepoint, which is rolled back."""
    Equipment.objects.filter(pk=side.equipment.pk).update(result_source_kind="demo")
    return side.equipment.pk


def _rejected_claim(side: Side) -> int:
    """The side's claim, rejected by the programme (inside the cell's savepoint) so that
    its provider may reopen it."""
    SettlementClaim.objects.filter(pk=side.money.claim.pk).update(
        status=SettlementClaim.Status.REJECTED, reason="permission matrix")
    return side.money.claim.pk


REASON = {"reason": "permission matrix"}
CALLS: dict[tuple[str, str], Call] = {
    ("hubs/", "POST"): Call(body=lambda w, s: {"slug": "hub-new", "name": "New hub"}),
    ("hubs/{slug}/", "*"): Call(args=lambda s, k: {"slug": s.hub.slug},
                                body=lambda w, s: {"name": "Renamed hub"}),
    ("equipment/", "POST"): Call(body=lambda w, s: {
        "hub": w.a.hub.slug, "slug": "new-cnc", "name": "New CNC", "category": "cnc",
        "hourly_rate": "100.00"}),
    ("equipment/{pk}/", "*"): Call(args=lambda s, k: {"pk": s.equipment.pk},
                                   body=lambda w, s: {"name": "Renamed CNC"}),
    ("equipment/{pk}/availability/", "GET"): Call(
        args=lambda s, k: {"pk": s.equipment.pk},
        query=lambda w: dict(zip(("start", "end"), _later(w, 1, 48), strict=True))),
    ("equipment/free/", "GET"): Call(
        query=lambda w: dict(zip(("start", "end"), _later(w, 1, 48), strict=True))),
    ("equipment/{pk}/result-source/test/", "POST"): Call(
        args=lambda s, k: {"pk": _demo_source(s)}),
    ("maintenance-windows/", "POST"): Call(body=lambda w, s: dict(
        equipment=w.a.equipment.pk, reason="Calibration",
        **dict(zip(("start", "end"), _later(w, 11), strict=True)))),
    ("maintenance-windows/{pk}/", "*"): Call(args=lambda s, k: {"pk": s.window.pk}),
    ("bookings/", "POST"): Call(body=lambda w, s: dict(
        equipment=w.a.equipment.pk, purpose="Trial: bracket roughing",
        **dict(zip(("start", "end"), _later(w, 3), strict=True)))),
    ("bookings/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.confirmed.pk}),
    ("bookings/{pk}/approve/", "POST"): Call(args=lambda s, k: {"pk": s.requested.pk},
                                             body=lambda w, s: REASON),
    ("bookings/{pk}/reject/", "POST"): Call(args=lambda s, k: {"pk": s.requested.pk},
                                            body=lambda w, s: REASON),
    ("bookings/{pk}/cancel/", "POST"): Call(args=lambda s, k: {"pk": s.confirmed.pk},
                                            body=lambda w, s: REASON),
    ("bookings/{pk}/check-in/", "POST"): Call(args=lambda s, k: {"pk": s.due.pk},
                                              body=lambda w, s: REASON),
    ("bookings/{pk}/complete/", "POST"): Call(args=lambda s, k: {"pk": s.checked_in.pk},
                                              body=lambda w, s: REASON),
    ("bookings/{pk}/events/", "GET"): Call(args=lambda s, k: {"pk": s.confirmed.pk}),
    ("trials/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.trial.pk}),
    ("trials/{pk}/measurements/", "GET"): Call(args=lambda s, k: {"pk": s.trial.pk}),
    ("trials/{pk}/live/", "GET"): Call(args=lambda s, k: {"pk": s.checked_in.pk}),
    ("trials/{pk}/results/", "POST"): Call(args=lambda s, k: {"pk": s.trial.pk}, body=_csv,
                                           content_type="text/csv"),
    ("trials/{pk}/consents/", "*"): Call(args=lambda s, k: {"pk": s.trial.pk},
                                         body=lambda w, s: {"agreement": s.agreement.pk}),
    ("trials/{pk}/consents/{consent_id}/", "DELETE"): Call(
        args=lambda s, k: {"pk": s.trial.pk, "consent_id": s.consent.pk}),
    ("agreements/", "POST"): Call(body=lambda w, s: {
        "university": w.a.university.slug, "hub": w.a.hub.slug, "categories": ["cnc"],
        "endpoint_url": DEAD_END, "valid_from": _iso(w.now)}),
    ("agreements/{pk}/", "*"): Call(args=lambda s, k: {"pk": s.agreement.pk},
                                    body=lambda w, s: {"title": "Renamed agreement"}),
    ("agreements/{pk}/revoke/", "POST"): Call(args=lambda s, k: {"pk": s.agreement.pk}),
    ("agreements/{pk}/versions/", "GET"): Call(args=lambda s, k: {"pk": s.agreement.pk}),
    ("agreements/{pk}/standing-consent/", "*"): Call(args=lambda s, k: {"pk": s.agreement.pk}),
    ("datasets/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.release.pk}),
    ("datasets/{pk}/package/", "GET"): Call(args=lambda s, k: {"pk": s.release.pk}),
    ("webhooks/", "POST"): Call(body=lambda w, s: {"url": DEAD_END,
                                                   "event_types": ["booking.*"]}),
    ("webhooks/{pk}/", "*"): Call(args=lambda s, k: {"pk": s.webhook.pk},
                                  body=lambda w, s: {"description": "ERP bridge"}),
    ("webhooks/{pk}/deliveries/", "GET"): Call(args=lambda s, k: {"pk": s.webhook.pk}),
    ("calendar-feeds/", "POST"): Call(body=lambda w, s: {"name": "Team calendar"}),
    ("calendar-feeds/{pk}/", "DELETE"): Call(args=lambda s, k: {"pk": s.feeds[k].pk}),
    ("reports/utilization/", "GET"): Call(query=lambda w: {
        "start": _iso(w.now - timedelta(days=7)), "end": _iso(w.now + timedelta(days=7))}),
    ("reports/billing/", "GET"): Call(query=lambda w: {"month": f"{w.now:%Y-%m}"}),
    ("quotes/", "POST"): Call(body=lambda w, s: dict(
        equipment=w.a.equipment.pk, **dict(zip(("start", "end"), _later(w, 3), strict=True)))),
    ("quotes/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.money.quote.pk}),
    ("vouchers/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.money.grant.pk}),
    ("service-requests/", "POST"): Call(body=lambda w, s: dict(
        hub=w.a.hub.slug, title="Matrix trial", plan="Run it.", equipment=[w.a.equipment.pk],
        **dict(zip(("preferred_start", "preferred_end"), _later(w, 5), strict=True)))),
    ("service-requests/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.money.service_request.pk}),
    ("service-requests/{pk}/offer/", "POST"): Call(
        args=lambda s, k: {"pk": s.money.service_request.pk},
        body=lambda w, s: {"periods": [dict(
            equipment=s.equipment.pk, **dict(zip(("start", "end"), _later(w, 7), strict=True)))],
            "valid_until": _iso(w.now + timedelta(days=2))}),
    ("service-requests/{pk}/refuse/", "POST"): Call(
        args=lambda s, k: {"pk": s.money.service_request.pk}, body=lambda w, s: REASON),
    ("service-requests/{pk}/withdraw/", "POST"): Call(
        args=lambda s, k: {"pk": s.money.service_request.pk}, body=lambda w, s: REASON),
    ("service-requests/{pk}/accept/", "POST"): Call(
        args=lambda s, k: {"pk": s.money.quoted_request.pk}, body=lambda w, s: {}),
    ("service-requests/{pk}/decline/", "POST"): Call(
        args=lambda s, k: {"pk": s.money.quoted_request.pk}, body=lambda w, s: {}),
    ("statements/issue/", "POST"): Call(body=lambda w, s: {"month": f"{w.now:%Y-%m}"}),
    ("statements/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.money.statement.pk}),
    ("statements/{pk}/pdf/", "GET"): Call(args=lambda s, k: {"pk": s.money.statement.pk}),
    ("statements/{pk}/csv/", "GET"): Call(args=lambda s, k: {"pk": s.money.statement.pk}),
    ("claims/", "POST"): Call(body=lambda w, s: {"programme": w.a.money.programme.pk,
                                                 "month": f"{w.a.money.claim.month:%Y-%m}"}),
    ("claims/{pk}/", "GET"): Call(args=lambda s, k: {"pk": s.money.claim.pk}),
    ("claims/{pk}/evidence/", "GET"): Call(args=lambda s, k: {"pk": s.money.claim.pk}),
    ("claims/{pk}/submit/", "POST"): Call(args=lambda s, k: {"pk": s.money.claim.pk}),
    ("claims/{pk}/reopen/", "POST"): Call(args=lambda s, k: {"pk": _rejected_claim(s)}),
    ("reports/vouchers/", "GET"): Call(query=lambda w: {
        "start": _iso(w.now - timedelta(days=60)), "end": _iso(w.now + timedelta(days=7))}),
}


def call_for(route: str, method: str) -> Call:
    return CALLS.get((route, method)) or CALLS.get((route, "*")) or Call()


# --- the routes the URL conf exposes ---------------------------------------------------

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_SUFFIX = re.compile(r"\\\.\{format\}/\?$")


def _template(pattern: str) -> str:
    """``^bookings/(?P<pk>[^/.]+)/approve/$`` or ``equipment/<int:pk>/…`` → ``…/{pk}/…``."""
    return _CONVERTER.sub(r"{\1}", _GROUP.sub(r"{\1}", pattern)).replace("^", "").replace("$", "")


def _methods(callback) -> set[str]:
    cls = getattr(callback, "cls", None)
    if cls is None:
        raise AssertionError(f"{callback!r} is not a DRF view: the matrix cannot read its "
                             "methods; add support for it here")
    allowed = {m.upper() for m in cls.http_method_names}
    actions = getattr(callback, "actions", None)
    if actions is not None:  # a viewset route: the router's method → action map
        methods = {m.upper() for m in actions}
    else:
        methods = {m.upper() for m in cls.http_method_names if hasattr(cls, m)}
    return (methods & allowed) - SKIPPED_METHODS


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def exposed_endpoints() -> set[tuple[str, str]]:
    """(route under /api/v1/, method) for every API v1 URL pattern; DRF's format-suffix
    twins (``bookings.json``) must be exact aliases of a listed route."""
    routes: dict[str, set[str]] = {}
    aliases: dict[str, tuple[str, set[str]]] = {}
    for raw, pattern in _walk(get_resolver().url_patterns):
        if not raw.startswith(API):
            continue
        route = _template(raw[len(API):])
        methods = _methods(pattern.callback)
        if "{format}" in route:
            base = "" if route == "{format}" else _SUFFIX.sub("/", route)
            aliases[route] = (base, methods)
        else:
            routes.setdefault(route, set()).update(methods)
    for alias, (base, methods) in aliases.items():
        assert base in routes and routes[base] == methods, (
            f"format-suffix route {alias!r} is not an alias of a listed route")
    return {(route, m) for route, methods in routes.items() for m in methods}


def test_matrix_covers_every_endpoint():
    exposed = exposed_endpoints()
    missing = sorted(exposed - MATRIX.keys())
    stale = sorted(MATRIX.keys() - exposed)
    assert not missing, f"endpoints without a row in the permission matrix: {missing}"
    assert not stale, f"matrix rows for endpoints the URL conf no longer exposes: {stale}"
    assert len(exposed) >= 40  # the walk really found the API


def test_a_new_endpoint_is_caught(settings):
    """The guard above must fail when the URL conf grows: add a route and see it missing."""
    from django.urls import clear_url_caches, include, path
    from rest_framework.views import APIView

    import testbed.urls

    class Gadget(APIView):
        def get(self, request):
            raise NotImplementedError

    module = type(testbed.urls)("security_probe_urls")
    module.urlpatterns = [path("api/v1/gadgets/", Gadget.as_view()),
                          path("", include(testbed.urls))]
    settings.ROOT_URLCONF = module
    clear_url_caches()
    try:
        assert ("gadgets/", "GET") in exposed_endpoints() - MATRIX.keys()
    finally:
        settings.ROOT_URLCONF = "testbed.urls"
        clear_url_caches()


# --- the matrix itself -----------------------------------------------------------------

class _Rollback(Exception):
    pass


def _request(world: World, kind: str | None, route: str, method: str, side: Side):
    call = call_for(route, method)
    args = call.args(side, kind or "flagship")
    path = "/" + API + route.format(**args)
    client = world.client(kind)
    query = call.query(world) if call.query else {}
    if method == "GET":
        return client.get(path, query)
    body = call.body(world, side) if call.body else {}
    send = getattr(client, method.lower())
    if call.content_type:
        return send(path, body, content_type=call.content_type)
    return send(path, body, format="json")


def _run(world: World, kind, route, method, side):
    """One request in a savepoint that is rolled back: every cell sees the same world."""
    response = None
    try:
        with transaction.atomic():
            response = _request(world, kind, route, method, side)
            raise _Rollback
    except _Rollback:
        pass
    return response


@pytest.mark.parametrize(("route", "method"), sorted(MATRIX), ids=lambda v: v or "root")
def test_permission_matrix(world, route, method):
    expected = MATRIX[(route, method)]
    has_object = "{" in route
    wrong = []
    for kind in (*KINDS, None):
        for ownership in ("own", "other") if has_object else ("own",):
            side = world.side(ownership)
            if kind is None:
                want = 401
            else:
                cell = expected[kind]
                want = cell[0 if ownership == "own" else 1] if has_object else cell
            response = _run(world, kind, route, method, side)
            got = response.status_code
            label = f"{kind or 'no key'}/{ownership}"
            if got != want:
                wrong.append(f"{label}: expected {want}, got {got} "
                             f"{response.content[:300]!r}")
            if got >= 500:
                wrong.append(f"{label}: server error {got}")
            if got >= 400 and response["Content-Type"] != PROBLEM:
                wrong.append(f"{label}: error {got} is {response['Content-Type']}, "
                             f"not {PROBLEM}")
            if got == 401 and not response.get("WWW-Authenticate", "").startswith("Bearer"):
                wrong.append(f"{label}: 401 without a Bearer challenge")
    assert not wrong, f"{method} /{API}{route}\n  " + "\n  ".join(wrong)
