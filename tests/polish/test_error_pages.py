"""The portal's own 404 and 500 pages, also in the embedded demo (DEBUG on, where Django
would show its technical pages); unknown API paths stay problem+json; the favicon."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    """The embedded demo's settings: DEBUG on (``make run``)."""
    settings.DEBUG = True
    return settings


def test_the_demo_shows_the_portals_404(demo, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="site-header"' in html  # the portal's layout
    assert "There is nothing here" in html
    assert "Using the URLconf" not in html and "NONE,NOARCHIVE" not in html


def test_the_demo_404_is_in_chinese_under_zh_hans(demo):
    response = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get("/no-such-page/")
    assert response.status_code == 404
    assert 'lang="zh-hans"' in response.content.decode()


def test_a_404_raised_by_a_view_is_styled_in_the_demo_too(demo, client):
    response = client.get("/catalog/equipment/999999999/")
    assert response.status_code == 404
    assert "NONE,NOARCHIVE" not in response.content.decode()


def test_unknown_api_paths_stay_problem_json_in_the_demo(demo, client):
    response = client.get("/api/v1/no-such-resource/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_the_demo_shows_the_styled_500(demo):
    demo.ROOT_URLCONF = "tests.polish.crash_urls"
    client = Client(raise_request_exception=False)
    response = client.get("/polish-crash/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "出错了" in html
    assert "RuntimeError" not in html and "Traceback" not in html


def test_the_technical_pages_come_back_when_asked(demo, client):
    demo.STYLED_ERROR_PAGES = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "NONE,NOARCHIVE" in response.content.decode()


def test_production_404_is_the_portals(client):
    assert not django_settings.DEBUG
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    target = response["Location"]
    assert target.endswith(".ico")
    assert finders.find("favicon.ico") and finders.find("favicon.svg")
    with open(finders.find("favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file


def test_pages_link_the_favicon(client):
    html = client.get("/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
