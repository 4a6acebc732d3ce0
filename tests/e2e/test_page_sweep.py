"""Every portal page, as every kind of visitor, at a phone's and a laptop's size, in both
languages: no page wider than the screen, no English on a Chinese page (beyond brand,
unit and user-entered names), no 4xx/5xx, no console errors.

The pages are found, not listed: from each visitor's start pages the sweep follows every
link it is shown (same site, GET), one URL per route (the first met), so a page added
later is swept without a line here. Downloads (CSV, iCalendar, packages) are checked for
their status only. The world is the demo's (``seed_demo``), logged in as its people."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from .conftest import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from django.core.management import call_command  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402

from billing.models import ServiceRequest  # noqa: E402
from bookings.models import Booking  # noqa: E402
from equipment.models import Capability, Category, Equipment, Hub  # noqa: E402
from organizations.models import Organization  # noqa: E402
from pricing.models import Quote  # noqa: E402
from testbed.management.commands.seed_demo import DEMO_PASSWORD  # noqa: E402
from trials.models import SharingAgreement  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 900}}
LANGUAGES = ("en", "zh-hans")

# Visitors and where they start: every page they can reach from there is swept.
VISITORS = {
    "anonymous": (None, ["/", "/catalog/", "/accounts/login/", "/accounts/signup/",
                         "/accounts/password/reset/"]),
    "sme": ("lead@precisionparts.example", ["/", "/catalog/", "/bookings/", "/trials/",
                                            "/organisation/"]),
    "operator": ("ops@autoworks.example", ["/", "/console/", "/catalog/"]),
    "university": ("data@tsinghua.example", ["/", "/console/datasets/", "/catalog/"]),
}

# Never followed: leaving the portal, changing state by GET, or the same page again.
SKIP = re.compile(r"^/(admin|api|i18n|static|media|healthz|readyz|demo-)|^/accounts/logout|"
                  r"^/calendar/")

# Words a Chinese page may show in Latin letters: brands, standards, units, codes.
ALLOWED = {
    "testbed", "api", "csv", "json", "pdf", "ics", "ical", "url", "http", "https", "rest",
    "mqtt", "mqtts", "opc", "ua", "tcp", "mtconnect", "xml", "cnc", "plc", "5g", "id", "ok",
    "mm", "kw", "kwh", "rpm", "hz", "khz", "ppm", "nm", "kg", "mpa", "cny", "utc", "gmt",
    "kb", "mb",
    "email", "e-mail", "webhook", "webhooks", "svg", "png", "jpeg", "zip", "step", "dxf",
    "totp", "mfa", "ip", "sme", "ai", "ar", "vr", "iso", "gb", "html", "wifi", "hub",
    "openapi", "swagger", "spdx", "cc-by", "post", "get", "bearer", "yyyy-mm", "yyyy-mm-dd",
    "apple", "google", "outlook", "excel", "mes", "erp",
    # The result sources' configuration keys, shown as they are typed (JSON keys).
    "device", "nodes", "mode", "security", "username", "topic", "format",
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]")
# A run of letters, digits and joiners: a word, or a code when it holds a digit, an
# underscore or a dot (91110105MA03PP1R5, sampling_ms, booking.cancelled).
TOKEN = re.compile(r"[A-Za-z0-9_.*'\-]+")
# E-mail addresses, URLs, paths, time-zone names (Asia/Shanghai) and the name of the
# Standard Webhooks specification are codes.
EMAIL_OR_URL = re.compile(r"\S+@\S+|https?://\S+|(?<![A-Za-z])[A-Z][a-z]+/[A-Za-z_]+|"
                          r"(?<![\w.])/[\w./{}-]+|Standard Webhooks")

# Visible text outside what is deliberately in another language or user data.
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = 'script,style,code,pre,kbd,samp,[lang]:not([lang^="zh"]),[translate="no"],' +
               '.user-text,input,textarea';
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder],[title],[aria-label],img[alt]')) {
    if (el.closest(skip)) continue;
    for (const a of ['placeholder', 'title', 'aria-label', 'alt']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  return out;
}"""


def _data_words() -> set[str]:
    """Latin words of names and text users entered (organisations, purposes, agreement
    titles): they are what the users wrote, in whatever language."""
    words: set[str] = set()
    texts = list(Organization.objects.values_list("name", flat=True))
    # The catalogue's Chinese text keeps model and brand names (ABB YuMi 双臂协作机器人).
    for model in (Equipment, Hub, Category, Capability):
        texts += [t for t in model.objects.values_list("name_zh_hans", flat=True) if t]
    texts += list(Booking.objects.values_list("purpose", flat=True))
    texts += list(SharingAgreement.objects.values_list("title", flat=True))
    # Service requests and offers: the SME's title and plan, the operator's note.
    texts += [t for pair in ServiceRequest.objects.values_list("title", "plan") for t in pair]
    texts += [t for t in Quote.objects.values_list("note", flat=True) if t]
    for text in texts:
        words |= {w.lower() for w in LATIN_WORD.findall(text)}
    return words


def english_words(texts: list[str], allowed: set[str]) -> set[str]:
    found = set()
    for text in texts:
        for token in TOKEN.findall(EMAIL_OR_URL.sub(" ", text)):
            token = token.strip(".'-")
            if re.search(r"[0-9_]|[a-z]\.[a-z*]", token):
                continue  # a code
            for word in LATIN_WORD.findall(token):
                if word.lower() not in allowed:
                    found.add(word)
    return found


def _route(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name or match.route


def _log_in(context, base_url: str, email: str) -> None:
    page = context.new_page()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", DEMO_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, f"{email} could not log in"
    page.close()


def sweep(browser, base_url: str, visitor: str, language: str) -> dict[str, list[str]]:
    """Every page ``visitor`` reaches, at each viewport: the defects found, per URL."""
    email, starts = VISITORS[visitor]
    allowed = ALLOWED | _data_words()
    context = browser.new_context(locale="en-US")
    context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    context.set_default_timeout(15_000)
    if email:
        _log_in(context, base_url, email)
    defects: dict[str, list[str]] = {}
    seen_routes: set[str] = set()
    queue = deque(starts)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    visited = 0
    while queue:
        path = queue.popleft()
        route = _route(urlsplit(path).path)
        if route is None or route in seen_routes:
            continue
        seen_routes.add(route)
        visited += 1
        found: list[str] = []
        head = context.request.get(f"{base_url}{path}", max_redirects=0)
        if head.status >= 400:
            defects[path] = [f"status {head.status}"]
            continue
        if "text/html" not in head.headers.get("content-type", "") or head.status >= 300:
            continue  # a download, or a redirect (to log in): its status is what counts
        for size, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            console.clear()
            response = page.goto(f"{base_url}{path}")
            if response.status >= 400:
                found.append(f"{size}: status {response.status}")
                continue
            page.wait_for_load_state("networkidle")
            width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            if width[0] > width[1]:
                found.append(f"{size}: {width[0]} px wide on a {width[1]} px screen")
            if console:
                found.append(f"{size}: console errors {console[:3]}")
            if language == "zh-hans" and size == "laptop":
                english = english_words(page.evaluate(VISIBLE_TEXT), allowed)
                if english:
                    found.append(f"English on the Chinese page: {sorted(english)[:20]}")
        for href in page.evaluate("[...document.querySelectorAll('a[href]')]"
                                  ".map(a => a.getAttribute('href'))"):
            absolute = urlsplit(urljoin(f"{base_url}{path}", href))
            if f"{absolute.scheme}://{absolute.netloc}" != base_url or SKIP.match(absolute.path):
                continue
            queue.append(absolute.path + (f"?{absolute.query}" if absolute.query else ""))
        if found:
            defects[path] = found
    context.close()
    assert visited >= len(starts) - 1, (visitor, "the sweep reached almost nothing")
    return defects


@pytest.fixture
def demo_world(transactional_db):
    call_command("seed_demo", "--no-keys", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("visitor", list(VISITORS))
def test_every_page_fits_speaks_the_language_and_answers(browser, live_server, demo_world,
                                                         visitor, language):
    defects = sweep(browser, live_server.url, visitor, language)
    assert defects == {}, "\n".join(f"{url}: {found}" for url, found in defects.items())


def test_the_english_detector_finds_english_and_spares_names():
    allowed = ALLOWED | {"autoworks"}
    assert english_words(["预约 Booking rules", "AutoWorks 基地", "5 mm", "a@b.example",
                          "时区Asia/Shanghai", "91110105MA03PP1R5", "booking.cancelled — 取消",
                          "sampling_ms", "见 /api/docs/", "booking.* — 此类的所有事件"],
                         allowed) == {"Booking", "rules"}
