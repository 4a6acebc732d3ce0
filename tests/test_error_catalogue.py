"""One error catalogue (issue 13, part 3): every error code is defined once, with its
status and its translated message, where the error is defined (``core.errors.define`` in
each app's ``errors`` module). No door re-maps codes to words of its own, no raise site
spells a code inline, and the portal and the API show the error's own message."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

import bookings.errors
import equipment.errors
import organizations.errors
import trials.errors
from bookings.models import Booking
from core.errors import CATALOGUE, ErrorCode, ValidationFailed, define
from equipment.wording import duration
from tests.fixtures.world import booking_body, local

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "organizations", "equipment", "bookings", "trials", "testbed")
MODULES = (bookings.errors, equipment.errors, organizations.errors, trials.errors)
TRANSLATE = {"_", "gettext", "gettext_lazy", "pgettext", "pgettext_lazy", "ngettext",
             "ngettext_lazy"}
RAISED = {"NotFound", "Forbidden", "Conflict", "Busy", "DomainError", "ValidationFailed"}


def _app_sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _is_text(node) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in TRANSLATE)


def test_no_dictionary_maps_error_codes_to_messages():
    found = []
    for path, tree in _app_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value in CATALOGUE and _is_text(v)
                    for k, v in zip(node.keys, node.values, strict=True)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_no_raise_site_spells_a_code_inline():
    """Codes come from the catalogue: no ``code="…"`` on a domain error, no
    ``ValidationFailed.single("…", …)`` or ``Violation("…", …)`` with a literal code."""
    found = []
    for path, tree in _app_sources():
        if path == ROOT / "core" / "errors.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = (node.func.id if isinstance(node.func, ast.Name)
                    else node.func.attr if isinstance(node.func, ast.Attribute) else "")
            literal_code = any(k.arg == "code" and isinstance(k.value, ast.Constant)
                               for k in node.keywords)
            literal_first = bool(node.args) and isinstance(node.args[0], ast.Constant)
            if (name in RAISED and literal_code) or (
                    name in ("single", "Violation") and literal_first):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_each_code_is_defined_once_with_its_status():
    with pytest.raises(ValueError, match="defined twice"):
        define("slot_taken", ValidationFailed, "again")
    constants = [value for module in MODULES for value in vars(module).values()
                 if isinstance(value, ErrorCode)]
    assert {str(c) for c in constants} <= set(CATALOGUE)
    assert bookings.errors.SLOT_TAKEN.status == 409
    assert bookings.errors.BOOKING_NOT_FOUND.status == 404
    assert organizations.errors.NOT_ADMIN.status == 403
    assert bookings.errors.TOO_SHORT.status == 400
    assert bookings.errors.SLOT_TAKEN == "slot_taken"  # a code compares as its string


def test_every_message_has_a_chinese_translation():
    params = defaultdict(lambda: 1)  # any parameter; a plural's "count" picks its form
    untranslated = []
    for code, error in CATALOGUE.items():
        with translation.override("en"):
            english = error.message % params
        with translation.override("zh-hans"):
            if error.message % params == english:
                untranslated.append(code)
    assert untranslated == []


@pytest.mark.django_db
def test_the_api_says_a_rule_in_the_callers_language(sme_client, equipment):
    response = sme_client.post("/api/v1/bookings/",
                               booking_body(equipment, local(2, 9), local(2, 9, 30)),
                               format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    with translation.override("zh-hans"):
        expected = bookings.errors.TOO_SHORT.text(d=duration(equipment.min_duration))
    assert response.json()["errors"]["end"] == [expected]
    assert expected != "A booking lasts at least 1 h."
    assert not Booking.objects.exists()
    assert response.json()["detail"] == "该预约不符合设备的规则。"  # the summary too
    english = sme_client.post("/api/v1/bookings/",
                              booking_body(equipment, local(2, 9), local(2, 9, 30)),
                              format="json")
    assert english.json()["detail"] == "The booking breaks the equipment's rules."


@pytest.mark.django_db
def test_the_apis_fixed_texts_are_in_the_callers_language(sme_client, api_client, operator):
    from tests.fixtures.world import key_client

    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    body = sme_client.post("/api/v1/bookings/", {"equipment": "x"}, format="json", **zh).json()
    assert body["detail"] == "输入无效。" and body["title"] == "Invalid input"  # titles: fixed
    assert api_client.get("/api/v1/bookings/", HTTP_AUTHORIZATION="Token abc",
                          **zh).json()["detail"] == "请使用 'Authorization: Bearer <api key>'。"
    assert api_client.get("/api/v1/bookings/", HTTP_AUTHORIZATION="Bearer nodot",
                          **zh).json()["detail"] == "API 密钥无效。"
    assert api_client.get("/api/v1/bookings/", HTTP_AUTHORIZATION="Bearer ab.cd",
                          **zh).json()["detail"] == "API 密钥无效、已撤销或已过期。"
    assert api_client.get("/api/v1/no-such-thing/", **zh).json()["detail"] == "没有该资源。"
    hours = key_client(operator).post("/api/v1/hubs/", {
        "name": "Hub", "slug": "hub-x", "timezone": "Mars/Olympus",
        "opening_hours": {"mon": [["25:00", "10:00"]]}}, format="json", **zh).json()
    assert hours["errors"]["timezone"] == ["Mars/Olympus 不是 IANA 时区（例如 Asia/Shanghai）。"]
    assert hours["errors"]["opening_hours"] == [
        "mon：['25:00', '10:00'] 不是一对 HH:MM 时间。"]


@pytest.mark.django_db
def test_the_portal_shows_the_errors_own_message(client, equipment, sme):
    from django.contrib.auth import get_user_model

    from organizations.models import Membership

    user = get_user_model().objects.create_user("lead@sme.test", "lead@sme.test", "pw")
    Membership.objects.create(user=user, organization=sme, role=Membership.Role.ADMIN)
    client.force_login(user)
    equipment.min_duration = 120
    equipment.save()
    response = client.post(reverse("bookings:book", args=[equipment.pk]), {
        "start": "2099-01-01T09:00", "end": "2099-01-01T10:00", "purpose": "Trial",
        "trial_lead": user.email})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert bookings.errors.TOO_SHORT.text(d=duration(120)) in errors["end"]
    assert not Booking.objects.exists()
