"""English and Simplified Chinese: the switcher, translated pages, localised dates, and a
catalogue that is complete and compiled."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from .conftest import local

pytestmark = pytest.mark.django_db
PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def switch(client, language, next_url="/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


def test_switching_to_chinese_and_back(client_sme, trial, equipment):
    response = switch(client_sme, "zh-hans", reverse("bookings:list"))
    assert response.status_code == 302 and response["Location"] == reverse("bookings:list")
    page = client_sme.get(reverse("bookings:catalog")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "查找设备" in page and "我的预约" in page and "每小时¥400.00" in page
    assert "Find equipment" not in page
    rules = client_sme.get(reverse("catalog:equipment", args=[equipment.pk])).content.decode()
    assert "每次预约至少1小时，最多8小时。" in rules and "星期一" in rules
    results = client_sme.get(reverse("trials:detail", args=[trial.pk])).content.decode()
    assert "汇总" in results and "spindle load（%）随时间变化" in results
    assert "年" in results  # dates in the Chinese format
    switch(client_sme, "en")
    assert "Find equipment" in client_sme.get(reverse("bookings:catalog")).content.decode()


def test_form_errors_in_chinese(client_sme, equipment):
    switch(client_sme, "zh-hans")
    response = client_sme.post(reverse("bookings:book", args=[equipment.pk]), {
        "start": local(2, 9).strftime("%Y-%m-%dT%H:%M"),
        "end": local(2, 9, 30).strftime("%Y-%m-%dT%H:%M"), "purpose": "试切"})
    assert response.context["form"].errors["end"] == ["每次预约至少1小时。"]


def test_anonymous_pages_and_allauth_in_chinese(client):
    switch(client, "zh-hans")
    assert "共享智能制造试验平台" in client.get("/").content.decode()
    signup = client.get(reverse("account_signup")).content.decode()
    assert "机构名称" in signup and "注册" in signup


def po_entries(text: str):
    """(msgid, msgid_plural, msgstr…) of every entry but the header."""
    entries, current, key = [], {}, None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current.get("msgid"):
                entries.append(current)
            current, key = {}, None
            continue
        if line.startswith("#"):
            continue
        m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
        if m:
            key = m.group(1)
            current[key] = m.group(2)
        elif line.startswith('"') and key:
            current[key] += line[1:-1]
    return entries


def test_catalogue_is_complete_and_compiled():
    entries = po_entries(PO.read_text(encoding="utf-8"))
    assert len(entries) > 300
    untranslated = [e["msgid"] for e in entries
                    if not (e.get("msgstr") or e.get("msgstr[0]"))]
    assert untranslated == []
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime - 5
    with translation.override("zh-hans"):
        assert translation.gettext("My bookings") == "我的预约"
        assert translation.gettext("Trial results") == "试验结果"
