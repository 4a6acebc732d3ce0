"""The admin console reads Chinese end to end for bookings, core, organizations and trials:
model names, field labels, help texts and choices are translatable and translated, and the
console's pages (index, changelists, add and change pages) show no English heading, column,
filter title or field label. The equipment app's labels are another area's and are not
checked here."""

from __future__ import annotations

import re
from html import unescape
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from bookings.models import Booking
from core.models import OutboxMessage
from organizations.models import Organization
from organizations.services import create_api_key
from tests.factories import UserFactory
from trials.models import Consent, DatasetRelease, SharingAgreement

APPS = ("bookings", "core", "organizations", "trials")
CHINESE = "zh-hans"

# Labels that read the same in both languages (an identifier or a brand).
SAME_IN_BOTH = {"ID", "id", "Webhook"}
# Latin words a Chinese label may contain: abbreviations and brands.
LATIN_WORDS_ALLOWED = {
    "ID",
    "URL",
    "API",
    "HTTP",
    "SHA",
    "Webhook",
    "Webhooks",
    "MTConnect",
    "SPDX",
    "CNY",
}

MODELS = [model for label in APPS for model in apps.get_app_config(label).get_models()]
REGISTERED = sorted(
    (
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in APPS
    ),
    key=lambda item: item[0]._meta.label,
)


def _texts(model):
    """(what, translatable text) of everything the console shows of ``model``: its names,
    and per field its label, help text and choices."""
    opts = model._meta
    yield "verbose_name", opts.verbose_name
    yield "verbose_name_plural", opts.verbose_name_plural
    for field in [*opts.concrete_fields, *opts.many_to_many]:
        yield field.name, field.verbose_name
        if field.help_text:
            yield f"{field.name}.help_text", field.help_text
        for value, label in field.flatchoices:
            yield f"{field.name}={value}", label


def _in(language: str, text) -> str:
    with translation.override(language):
        return str(text)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_label_of_the_model_is_translated(model):
    untranslated = [
        (what, _in("en", text))
        for what, text in _texts(model)
        if _in(CHINESE, text) == _in("en", text) and _in("en", text) not in SAME_IN_BOTH
    ]
    assert untranslated == []


def test_the_chinese_labels_are_the_agreed_terms():
    """The glossary: Organisation = 机构 (never 单位), Booking = 预约, Trial = 试验, ..."""
    with translation.override(CHINESE):
        assert str(Organization._meta.verbose_name) == "机构"
        assert str(Booking._meta.verbose_name) == "预约"
        assert str(Booking._meta.get_field("organization").verbose_name) == "机构"
        assert str(DatasetRelease._meta.get_field("trial").verbose_name) == "试验"
        assert str(SharingAgreement._meta.verbose_name) == "共享协议"
        assert str(SharingAgreement._meta.get_field("hub").verbose_name) == "基地"
        assert str(SharingAgreement._meta.get_field("operator").verbose_name) == "运营方"
        assert str(Consent._meta.verbose_name) == "同意"
        assert str(DatasetRelease._meta.verbose_name) == "数据发布"
        assert str(OutboxMessage._meta.verbose_name) == "待发消息"


def test_the_english_labels_stay_english():
    with translation.override("en"):
        assert str(Booking._meta.verbose_name_plural) == "bookings"
        assert capfirst(Booking._meta.get_field("requested_by").verbose_name) == "Requested by"


# --- the pages ----------------------------------------------------------------------------


def _excluded_labels() -> set[str]:
    """The equipment app's labels (another area's), as they read in Chinese now: a filter or
    column on a path into equipment (e.g. ``equipment__hub``) shows them."""
    found = set()
    with translation.override(CHINESE):
        for model in apps.get_app_config("equipment").get_models():
            found |= {
                str(model._meta.verbose_name).lower(),
                str(model._meta.verbose_name_plural).lower(),
            }
            found |= {
                str(field.verbose_name).lower()
                for field in model._meta.get_fields()
                if hasattr(field, "verbose_name")
            }
    return found


PATTERNS = {
    "heading": re.compile(r"<h[12][^>]*>(.*?)</h[12]>", re.S),
    "column": re.compile(r'<th (?:scope="col"|class="column-)[^>]*>(.*?)</th>', re.S),
    "filter": re.compile(r'data-filter-title="([^"]*)"'),
    "label": re.compile(r"<label[^>]*>(.*?)</label>", re.S),
}


def _english_labels(html: str, excluded: set[str], data: str = "") -> list[tuple[str, str]]:
    """(kind, text) of every heading, column, filter title and label with a Latin word
    that is neither an abbreviation nor a brand. ``data`` (the object's name on its page) is
    not a label."""
    found = []
    for kind, pattern in PATTERNS.items():
        for raw in pattern.findall(html):
            text = " ".join(unescape(re.sub(r"<[^>]+>", " ", raw)).split()).rstrip(":：")
            if data:
                text = text.replace(data, "").strip()
            if not text or text.lower() in excluded:
                continue
            words = set(re.findall(r"[A-Za-z]{2,}", text)) - LATIN_WORDS_ALLOWED
            if words:
                found.append((kind, text))
    return found


@pytest.fixture
def superuser(db):
    return UserFactory(email="staff-zh@platform.test", is_staff=True, is_superuser=True)


@pytest.fixture
def chinese_console(superuser) -> Client:
    """A superuser's console client that asked for Chinese."""
    client = Client()
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = CHINESE
    return client


@pytest.fixture
def demo_data(db):
    call_command("seed_demo", "--no-keys", stdout=StringIO())
    create_api_key(organization=Organization.objects.get(slug="autoworks"), name="admin-test")


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_console_index_is_chinese(chinese_console, demo_data):
    response = chinese_console.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == CHINESE
    html = response.content.decode()
    with translation.override(CHINESE):
        for model, _model_admin in REGISTERED:
            assert str(capfirst(model._meta.verbose_name_plural)) in html
    assert _english_labels(html, _excluded_labels()) == []


def test_every_console_page_of_the_four_apps_is_chinese(chinese_console, superuser, demo_data, rf):
    request = rf.get("/admin/")
    request.user = superuser
    excluded = _excluded_labels()
    failures, opened = [], set()
    for model, model_admin in REGISTERED:
        pages = [("changelist", _url(model, "changelist"))]
        if model_admin.has_add_permission(request):
            pages.append(("add", _url(model, "add")))
        first = model_admin.get_queryset(request).order_by("pk").first()
        if first is not None:
            pages.append(("change", _url(model, "change", quote(first.pk))))
        data = " ".join(str(first).split()) if first is not None else ""
        for view, url in pages:
            response = chinese_console.get(url)
            if response.status_code != 200:
                failures.append((model._meta.label, view, response.status_code))
                continue
            opened.add((model._meta.label, view))
            failures += [
                (model._meta.label, view, kind, text)
                for kind, text in _english_labels(
                    response.content.decode(), excluded, data if view == "change" else ""
                )
            ]
    assert failures == []
    # The demo data reaches the change pages that matter (the check above is not vacuous).
    assert {
        ("bookings.Booking", "change"),
        ("organizations.Organization", "change"),
        ("organizations.Organization", "add"),
        ("trials.Trial", "change"),
        ("core.OutboxMessage", "change"),
    } <= opened
