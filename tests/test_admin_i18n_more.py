"""The admin console reads Chinese in the parts ``test_admin_i18n`` leaves out: the equipment
app (model names, field labels, fieldsets, inlines), the bookings' utilization report page,
the billing report's title, and django-celery-beat's admin texts its own catalogue lacks (in
the vendor catalogue, ``locale/vendor``).

Still English, and not ours to translate: the name of allauth.mfa's model
("Authenticators"), which the library does not mark for translation. djangorestframework-
api-key's own key model (untranslated "API Key Permissions") is not in the admin at all:
the project's keys are ``OrganizationAPIKey``."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from equipment.models import (
    Category,
    Equipment,
    Hub,
    MaintenanceWindow,
    Qualification,
    QualificationRequest,
    SpecLabel,
)
from tests.factories import (
    EquipmentFactory,
    MaintenanceWindowFactory,
    QualificationFactory,
    UserFactory,
)

CHINESE = "zh-hans"

EQUIPMENT_MODELS = list(apps.get_app_config("equipment").get_models())
EQUIPMENT_ADMINS = sorted(
    (model for model in admin.site._registry if model._meta.app_label == "equipment"),
    key=lambda model: model._meta.label,
)

# Latin words a Chinese label may contain: brands and words in mixed case that are names.
# Words in capitals (URL, API, CSV, CNY, a time zone's abbreviation) are abbreviations.
BRANDS = {"Testbed", "MTConnect"}
# A django-modeltranslation column's label ends with its language: "名称 [zh-hans]".
LANGUAGE_TAG = re.compile(r"\s*\[[a-z-]+\]")

LABELS = {
    "heading": re.compile(r"<h[1-3][^>]*>(.*?)</h[1-3]>", re.S),
    "column": re.compile(r"<th[^>]*>(.*?)</th>", re.S),
    "filter": re.compile(r'data-filter-title="([^"]*)"'),
    "label": re.compile(r"<label[^>]*>(.*?)</label>", re.S),
    "title": re.compile(r"<title>(.*?)</title>", re.S),
}


def _text(raw: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def _content(html: str) -> str:
    """The page without the sidebar (whose app list holds the libraries' English names);
    a part of a page as it is."""
    return html.split('id="content-start"', 1)[-1]


def _english_labels(html: str, data: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(kind, text) of every heading, column, filter title, label and page title of the
    page's content holding an English word; ``data`` (names of the objects shown) is not."""
    found = []
    for kind, pattern in LABELS.items():
        for raw in pattern.findall(_content(html) if kind != "title" else html):
            text = LANGUAGE_TAG.sub("", _text(raw))
            for value in data:
                text = text.replace(value, "")
            words = {w for w in re.findall(r"[A-Za-z]{2,}", text) if not w.isupper()}
            if words - BRANDS:
                found.append((kind, text))
    return found


def _in(language: str, text) -> str:
    with translation.override(language):
        return str(text)


# --- the labels ---------------------------------------------------------------------------


def _texts(model):
    opts = model._meta
    yield "verbose_name", opts.verbose_name
    yield "verbose_name_plural", opts.verbose_name_plural
    for field in [*opts.concrete_fields, *opts.many_to_many]:
        yield field.name, field.verbose_name
        if field.help_text:
            yield f"{field.name}.help_text", field.help_text
        for value, label in field.flatchoices:
            yield f"{field.name}={value}", label


@pytest.mark.parametrize("model", EQUIPMENT_MODELS, ids=lambda model: model._meta.label)
def test_every_equipment_label_is_translated(model):
    untranslated = [
        (what, _in("en", text))
        for what, text in _texts(model)
        if _in(CHINESE, text) == _in("en", text) and _in("en", text) != "ID"
    ]
    assert untranslated == []


def test_the_equipment_labels_use_the_agreed_terms():
    with translation.override(CHINESE):
        assert str(Hub._meta.verbose_name_plural) == "基地"
        assert str(Hub._meta.get_field("operator").verbose_name) == "运营方"
        assert str(Equipment._meta.verbose_name_plural) == "设备"
        assert str(Category._meta.verbose_name_plural) == "类别"
        assert str(MaintenanceWindow._meta.verbose_name_plural) == "维护时段"
        assert str(Qualification._meta.verbose_name_plural) == "资质"
        assert str(QualificationRequest._meta.verbose_name_plural) == "资质申请"
        assert str(QualificationRequest._meta.get_field("organization").verbose_name) == "机构"
        assert str(SpecLabel._meta.verbose_name_plural) == "规格名称"


def test_the_english_labels_stay_english():
    with translation.override("en"):
        assert str(Hub._meta.verbose_name_plural) == "hubs"
        assert str(Category._meta.verbose_name_plural) == "categories"
        assert str(SpecLabel._meta.verbose_name_plural) == "spec labels"
        assert capfirst(Hub._meta.get_field("timezone").verbose_name) == "Time zone"
        assert capfirst(Equipment._meta.get_field("min_duration").verbose_name) == (
            "Minimum duration")


# --- the pages ----------------------------------------------------------------------------


@pytest.fixture
def chinese_console(db) -> Client:
    """A superuser's console client that asked for Chinese."""
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = CHINESE
    return client


@pytest.fixture
def machine(db) -> Equipment:
    """Named in Chinese, so that any Latin word on its pages is a label."""
    equipment = EquipmentFactory(name="五轴加工中心", hub__name="亦庄基地",
                                 category__name="数控加工")
    MaintenanceWindowFactory(equipment=equipment, reason="主轴保养")
    QualificationFactory(equipment=equipment)
    return equipment


def _get(client: Client, url: str, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200
    assert response.headers["Content-Language"] == CHINESE
    return response.content.decode()


def test_the_index_names_the_equipment_models_in_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:index"))
    module = html.split('class="app-equipment module"', 1)[1].split("</table>", 1)[0]
    names = {_text(raw) for raw in re.findall(r'<th scope="row"[^>]*>(.*?)</th>', module, re.S)}
    with translation.override(CHINESE):
        assert names == {str(capfirst(m._meta.verbose_name_plural)) for m in EQUIPMENT_ADMINS}
    for english in ("Hubs", "Equipment", "Categories", "Capabilities", "Maintenance windows",
                    "Qualifications", "Spec labels", "Metric names"):
        assert f">{english}</a>" not in html
    assert _english_labels(module) == []
    assert "API Key Permissions" not in html  # the library's unused key model is not listed


def test_the_equipment_list_is_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:equipment_equipment_changelist"))
    assert _english_labels(html) == []
    columns = {_text(raw) for raw in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', html, re.S)}
    assert {"名称", "基地", "类别", "状态", "需要审批", "需要资质", "结果数据源类型"} <= columns
    assert 'data-filter-title="结果数据源类型"' in html
    assert "Result source kind" not in html


def test_the_equipment_page_is_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:equipment_equipment_change", args=[machine.pk]))
    assert _english_labels(html, data=(str(machine),)) == []
    headings = {_text(raw) for raw in LABELS["heading"].findall(html)}
    assert {"预约规则", "结果数据源", "审计", "维护时段", "照片", "文档"} <= headings
    labels = {_text(raw).rstrip(":：") for raw in LABELS["label"].findall(html)}
    assert {"时段粒度", "最短时长", "最长时长", "换线间隔", "最远可预约天数",
            "每家中小企业的未完成预约上限", "结果数据源网址", "规格"} <= labels
    for english in ("Booking policy", "Result source", "Audit", "Slot granularity",
                    "Min duration", "Changeover buffer", "Max open bookings per sme"):
        assert f">{english}<" not in html and f">{english}:<" not in html


def test_the_hub_page_is_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:equipment_hub_change", args=[machine.hub.pk]))
    assert _english_labels(html, data=(str(machine.hub),)) == []
    labels = {_text(raw).rstrip(":：") for raw in LABELS["label"].findall(html)}
    assert {"时区", "开放时间", "网址标识"} <= labels
    assert ">Timezone:<" not in html and ">Opening hours:<" not in html


def test_the_utilization_report_is_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:bookings_booking_reports"))
    assert _english_labels(html) == []
    assert "<h1>利用率报表</h1>" in html
    assert "各设备的已预约小时数与开放小时数" in html  # the chart's title
    assert "按基地" in html and "按设备" in html and "导出 CSV" in html
    assert "自当天零点起" in html and "至当天结束（含当天）。" in html
    for english in ("Utilization report", "Booked vs open hours per equipment", "Per hub",
                    "Open h", "Export CSV", "From the start of this day",
                    "To the end of this day", "Billing per SME reads", ">Home<"):
        assert english not in html
    # The billing link still carries the month (and operator) chosen.
    assert reverse("admin:billing_statement_billing") + "?month=" in html


def test_the_billing_report_is_chinese(chinese_console, machine):
    html = _get(chinese_console, reverse("admin:billing_statement_billing"))
    assert _english_labels(html) == []
    assert "<h1>结算报表</h1>" in html
    assert "Billing report" not in html


def test_periodic_tasks_read_chinese_where_the_library_has_none(chinese_console):
    """django-celery-beat's own catalogue leaves these empty or fuzzy: the vendor catalogue
    has them."""
    html = _get(chinese_console, reverse("admin:django_celery_beat_periodictask_add"))
    headings = {_text(raw) for raw in LABELS["heading"].findall(html)}
    assert {"执行计划", "参数", "执行选项"} <= headings
    assert "Execution Options" not in html

    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="清理", task="core.tasks.cleanup",
                                       interval=every_minute, enabled=False)
    response = chinese_console.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "enable_tasks", "_selected_action": [task.pk]}, follow=True)
    assert "已成功启用 1 个任务" in response.content.decode()
