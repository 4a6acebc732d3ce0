"""The account pages (allauth) in the portal's look and both languages, never naming anyone
by the internal username."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng-pass-for-tests"


def chinese_client() -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.cookies["django_language"] = "zh-hans"
    return client


def main_of(response) -> str:
    html = response.content.decode()
    assert 'href="/static/portal/portal.css' in html or "portal/portal.css" in html  # portal look
    return html.split("<main", 1)[1].split("</main>", 1)[0]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_login_page_offers_the_password_reset_once(client):
    html = client.get("/accounts/login/").content.decode()
    assert html.count("/accounts/password/reset/") == 1
    assert html.count("Forgot your password?") == 1


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/confirm-email/",
    ],
)
def test_entrance_pages_are_portal_pages_in_chinese(url):
    response = chinese_client().get(url)
    assert response.status_code == 200
    main = text_of(main_of(response))
    assert re.search(r"[\u4e00-\u9fff]{2,}", main), main
    for english in (
        "Sign In",
        "Sign Up",
        "Password Reset",
        "Forgotten your password",
        "Verify Your Email",
        "E-mail address",
        "Email address",
    ):
        assert english not in main, (english, main)


def sign_up(client: Client, email: str = "founder@newco.test") -> str:
    response = client.post(
        "/accounts/signup/",
        {
            "email": email,
            "organization_name": "新公司机器人",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302, response.content
    [message] = [m for m in mail.outbox if email in m.to]
    return message.body


def test_sign_up_and_confirmation_never_show_the_username():
    client = chinese_client()
    body = sign_up(client)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(email="founder@newco.test")
    user.username = "boss"  # whatever the internal username is, it is never shown
    user.save(update_fields=["username"])
    link = re.search(r"/accounts/confirm-email/\S+", body).group(0)
    response = client.get(link)
    assert response.status_code == 200
    main = main_of(response)
    assert "founder@newco.test" in main
    assert "boss" not in main
    assert "for user" not in main and "an email address for" not in main
    assert 'class="button"' in main  # the portal's button
    assert "Hello from" not in body and "testserver的" not in body


def test_the_confirmation_page_is_chinese_under_zh_hans():
    client = chinese_client()
    body = sign_up(client, "zh@newco.test")
    link = re.search(r"/accounts/confirm-email/\S+", body).group(0)
    main = text_of(main_of(client.get(link)))
    assert "请确认" in main and "zh@newco.test" in main, main
    assert "Please confirm" not in main


def test_an_invalid_confirmation_link_says_what_to_do():
    main = text_of(main_of(chinese_client().get("/accounts/confirm-email/bogus-key/")))
    assert "Log in" not in main and "登录" in main and "链接" in main, main


def test_the_password_reset_flow_in_chinese_never_shows_the_username():
    user = UserFactory(email="boss@x.test", username="boss")
    client = chinese_client()
    response = client.post("/accounts/password/reset/", {"email": "boss@x.test"})
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.subject.count("[Testbed]") == 1
    assert "boss@" not in message.body.replace("boss@x.test", "") and " boss" not in message.body
    assert "username" not in message.body.lower()
    link = re.search(r"/accounts/password/reset/key/\S+", message.body).group(0)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    main = text_of(main_of(response))
    assert "新密码" in main, main
    response = client.post(
        response.redirect_chain[-1][0] if response.redirect_chain else link,
        {"password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert response.status_code == 200
    assert re.search(r"[\u4e00-\u9fff]{2,}", text_of(main_of(response)))
    user.refresh_from_db()
    assert user.check_password(PASSWORD)  # the new password was set


def test_mfa_pages_are_portal_pages_in_chinese():
    user = UserFactory(email="ops@x.test", username="opsuser")
    client = chinese_client()
    client.force_login(user)
    for url in (
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
        "/accounts/email/",
        "/accounts/password/change/",
    ):
        response = client.get(url, follow=True)  # TOTP set-up asks for the password first
        assert response.status_code == 200, url
        main = main_of(response)
        assert re.search(r"[\u4e00-\u9fff]{2,}", text_of(main)), url
        assert "opsuser" not in main


def test_people_are_named_by_their_email_address():
    from allauth.account.internal.userkit import user_display

    assert user_display(UserFactory(email="a@b.test", username="internal-7")) == "a@b.test"


def test_logging_in_with_the_password_works_from_the_styled_page(client):
    user = UserFactory(email="lead@p.test")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": "lead@p.test", "password": TEST_PASSWORD})
    assert response.status_code == 302
