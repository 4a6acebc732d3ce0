"""Texts a Chinese reader used to get in English: Django's new password rule, the 429, 403
and 400 pages, licence names, the reports' chart tooltips, the invitation e-mail and a
calendar feed fetched by a calendar server that sends no language."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from allauth.core.internal.ratelimit import handler429
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views import defaults

from bookings.feeds.ics import render_feed
from bookings.feeds.services import create_feed
from console.setup.reports import billing_chart
from trials.packages import LICENSES, _license

from .conftest import local, make_booking

pytestmark = pytest.mark.django_db


def test_a_short_password_is_refused_in_chinese(client):
    response = client.post(reverse("account_signup"), {
        "email": "founder@newco.test", "password1": "abc", "password2": "abc",
        "organization_name": "NewCo"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert "密码太短。密码至少需要 8 个字符。" in response.content.decode()


@pytest.mark.parametrize(("handler", "status", "heading"), [
    (lambda request: defaults.permission_denied(request, Exception()), 403, "无权访问"),
    (lambda request: defaults.bad_request(request, Exception()), 400, "请求无效"),
])
def test_the_error_pages_speak_the_readers_language(handler, status, heading):
    request = RequestFactory().get("/somewhere/")
    with translation.override("zh-hans"):
        response = handler(request)
    assert response.status_code == status
    page = response.content.decode()
    assert heading in page and "返回首页" in page


def test_too_many_attempts_is_a_page_of_the_site_in_chinese():
    request = RequestFactory().get("/accounts/password/reset/")
    request.user = AnonymousUser()
    with translation.override("zh-hans"):
        response = handler429(request)
    assert response.status_code == 429
    page = response.content.decode()
    assert "尝试次数过多" in page and "Too Many Requests" not in page


def test_licence_titles_on_pages_are_translated_and_packages_name_them_in_english():
    with translation.override("zh-hans"):
        assert str(LICENSES["CC-BY-4.0"][0]) == "知识共享 署名 4.0 国际"
        assert _license("CC-BY-4.0")["title"] == "Creative Commons Attribution 4.0"


def test_the_billing_charts_tooltip_is_its_caption_in_the_readers_language():
    bill = SimpleNamespace(organization_name="Precision Parts", voucher_share=100,
                           sme_share=50)
    with translation.override("zh-hans"):
        svg = billing_chart([bill])
    assert "<title>各中小企业的结算（CNY）</title>" in svg
    assert "Pygal" not in svg


def test_the_invitation_email_is_in_both_languages(client_sme,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_sme.post(reverse("organizations:invite"),
                        {"email": "new@precision.test", "role": "member"})
    message = mail.outbox[0]
    assert message.subject.startswith("[Testbed] ")
    assert "Join Precision Parts on Testbed" in message.subject
    assert "Precision Parts" in message.subject and "加入" in message.subject
    assert "invites you to join" in message.body and "邀请您" in message.body


def test_a_feed_keeps_the_language_it_was_made_in(sme, equipment):
    equipment.name_zh_hans = "五轴加工中心"
    equipment.save()
    make_booking(equipment, sme, local(3, 9), local(3, 11))
    with translation.override("zh-hans"):
        chinese = create_feed(organization=sme)
    english = create_feed(organization=sme, language="en")
    assert chinese.language == "zh-hans"
    # A calendar server fetches without a language: the feed's own is used.
    with translation.override("en"):
        assert "五轴加工中心".encode() in render_feed(chinese)
        assert b"DMU 50" in render_feed(english)


def test_the_portal_makes_the_feed_in_the_pages_language(client_sme, sme):
    client_sme.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = client_sme.post(reverse("bookings:feed"))
    assert response.status_code in (200, 302)
    assert sme.calendar_feeds.get(revoked_at__isnull=True).language == "zh-hans"
