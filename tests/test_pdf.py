"""core/pdf.py: a Django template to a PDF with Chinese and English text, page numbers in
the active language, and no call to anything outside the project's static files."""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation

from core import pdf
from tests.fixtures.peers import Reply
from tests.pdfutil import page_count, pdftotext, require_cjk_font

# A 1×1 transparent PNG: what a remote image would be if it were fetched.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

STATEMENT = """{% extends "pdf/base.html" %}{% load i18n %}
{% block title %}对账单 Statement {{ month }}{% endblock %}
{% block content %}
<h1>月度对账单 Monthly statement</h1>
<dl class="facts"><dt>机构 Organisation</dt><dd>{{ organization }}</dd></dl>
<table>
  <thead><tr><th>设备 Equipment</th><th class="amount">金额 Amount (CNY)</th></tr></thead>
  <tbody>{% for line in lines %}
    <tr><td>{{ line.name }}</td><td class="amount">{{ line.amount }}</td></tr>{% endfor %}
  </tbody>
  <tfoot><tr><td>合计 Total</td><td class="amount">{{ total }}</td></tr></tfoot>
</table>
{% for url in remote %}
<img src="{{ url }}" alt="logo"><link rel="stylesheet" href="{{ url }}">{% endfor %}
{% endblock %}
"""


@pytest.fixture
def documents(tmp_path, settings):
    """A directory of document templates the loader finds (``pdf_test/statement.html``)."""
    (tmp_path / "pdf_test").mkdir()
    (tmp_path / "pdf_test" / "statement.html").write_text(STATEMENT, encoding="utf-8")
    settings.TEMPLATES = [{**settings.TEMPLATES[0],
                           "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}]
    return tmp_path


def statement(rows: int = 3, **extra) -> dict:
    lines = [{"name": f"五轴加工中心 5-axis CNC cell #{n}", "amount": Decimal("1234.50")}
             for n in range(1, rows + 1)]
    return {"month": "2025-03", "organization": "苏州精密制造有限公司 Suzhou Precision",
            "lines": lines, "total": sum((line["amount"] for line in lines), Decimal("0")),
            **extra}


def test_a_statement_reads_in_chinese_and_english_with_its_amounts(documents):
    require_cjk_font()
    data = pdf.render_pdf("pdf_test/statement.html", statement())

    assert data.startswith(b"%PDF-")
    text = pdftotext(data)
    assert "月度对账单 Monthly statement" in text
    assert "苏州精密制造有限公司 Suzhou Precision" in text
    assert "五轴加工中心 5-axis CNC cell #3" in text
    assert "1234.50" in text
    assert "3703.50" in text  # the total
    # The heading, and above it the running header that repeats it on every page.
    assert text.count("月度对账单 Monthly statement") == 2


def test_page_numbers_say_page_x_of_y_in_the_active_language(documents):
    require_cjk_font()
    with translation.override("en"):
        english = pdf.render_pdf("pdf_test/statement.html", statement(rows=40))
    assert page_count(english) == 2
    text = pdftotext(english)
    first, second_page = text.rstrip("\f").split("\f")
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in second_page
    # The column headings repeat on every page; the total comes once, after the last line.
    assert "金额 Amount (CNY)" in first and "金额 Amount (CNY)" in second_page
    assert text.count("49380.00") == 1 and "49380.00" in second_page

    with translation.override("zh-hans"):
        chinese = pdf.render_pdf("pdf_test/statement.html", statement(rows=40))
        # The catalogue's words ("第1页，共2页" once merged), never the English.
        second = translation.gettext("Page %(page)s of %(pages)s") % {"page": 2, "pages": 2}
    assert second in pdftotext(chinese)


def test_with_the_request_the_context_processors_run(documents, rf):
    (documents / "pdf_test" / "request.html").write_text(
        '{% extends "pdf/base.html" %}{% block content %}<p>{{ request.path }} '
        '{{ LANGUAGE_CODE }}</p>{% endblock %}', encoding="utf-8")
    request = rf.get("/statements/2025-03.pdf")
    with translation.override("en"):
        data = pdf.render_pdf("pdf_test/request.html", {}, request=request)
    assert "/statements/2025-03.pdf en" in pdftotext(data)


def test_the_footer_words_are_a_css_string_whatever_the_translation():
    with translation.override("en"):
        assert pdf.page_numbers_css() == '"Page " counter(page) " of " counter(pages) ""'
    assert pdf._css_string('say "hi" \\ </style>') == 'say \\"hi\\" \\\\ \\3c /style>'


def test_a_remote_image_or_stylesheet_is_refused_without_any_network_call(documents, gateway,
                                                                         caplog):
    """The fetcher refuses http(s) before opening a connection: the loopback server (which
    would answer with a real PNG) sees no request at all, and the document still renders."""
    gateway.reply(Reply(body=PNG, content_type="image/png"))
    remote = [gateway.url + "/logo.png", gateway.url.replace("http:", "https:") + "/x.css",
              "ftp://127.0.0.1/logo.png", "file:///etc/passwd"]
    with caplog.at_level(logging.WARNING):
        data = pdf.render_pdf("pdf_test/statement.html", statement(remote=remote))

    assert gateway.requests == []
    assert data.startswith(b"%PDF-")
    assert "/Subtype /Image" not in data.decode("latin-1")  # nothing was embedded
    assert "Monthly statement" in pdftotext(data)
    refused = " ".join(record.getMessage() for record in caplog.records)
    assert gateway.url + "/logo.png" in refused
    assert "/etc/passwd" in refused


def test_an_inline_data_image_is_embedded(documents):
    """``data:`` URLs fetch nothing, so they are allowed (and prove the check above sees
    an image when there is one)."""
    inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
    data = pdf.render_pdf("pdf_test/statement.html", statement(remote=[inline]))
    assert "/Subtype /Image" in data.decode("latin-1")


def test_only_files_inside_the_static_directory_can_be_read(tmp_path):
    static = Path(django_settings.STATICFILES_DIRS[0]).resolve()
    stylesheet = static / "pdf" / "document.css"

    assert pdf.static_file(stylesheet.as_uri()) == stylesheet
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in (outside.as_uri(), static.as_uri() + "/../pyproject.toml",
                "file://example.com" + stylesheet.as_posix(), static.as_uri() + "/pdf",
                "http://127.0.0.1/static/pdf/document.css"):
        with pytest.raises(pdf.RefusedURL):
            pdf.static_file(url)

    fetcher = pdf._fetcher_class()()
    response = fetcher.fetch(stylesheet.as_uri())
    assert response.read() == stylesheet.read_bytes()
    assert response.content_type == "text/css"
    with pytest.raises(pdf.RefusedURL):
        fetcher.fetch("https://example.com/font.woff2")


def test_without_a_cjk_font_it_logs_and_still_renders(documents, monkeypatch, caplog):
    monkeypatch.setattr(pdf, "cjk_font_families", lambda: ())
    pdf._check_cjk_font.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="core.pdf"):
            data = pdf.render_pdf("pdf_test/statement.html", statement())
    finally:
        pdf._check_cjk_font.cache_clear()
    assert data.startswith(b"%PDF-")
    assert any("no CJK font" in record.getMessage() for record in caplog.records)


def test_this_machine_has_a_cjk_font():
    """`make install` brings one (Makefile: system-deps); without it Chinese is boxes."""
    require_cjk_font()
    assert any("CJK" in family or "SC" in family for family in pdf.cjk_font_families())
