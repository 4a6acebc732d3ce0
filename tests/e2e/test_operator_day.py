"""The hub operator's day in a real browser, in English and in Chinese: a request arrives
(an SME asks for an approval-required machine through the portal), the operator logs in and
lands on the console, approves it with a reason, checks the SME in at the machine (the
tablet buttons of the booking's page) and records completion; the trial is collected (the
equipment's ``demo`` result source; Celery runs eagerly) and both the operator and the SME
read the results; a maintenance window is previewed — listing the booking it will cancel —
and saved; the organisation's admin creates an API key (shown once) and uses it. And the
platform staff's verification queue: a new SME signs up, staff verify it (or refuse it with
a reason) from the queue on the admin index, and the SME's admin is e-mailed.

Every assertion on text is on what the reader sees in the page's language: the expected
words come from the project's catalogue (``t``), and on the Chinese pages a message with no
Chinese translation fails the test."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from .conftest import CHROMIUM

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

import time_machine  # noqa: E402
from allauth.account.models import EmailAddress  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core import mail  # noqa: E402
from django.utils import timezone, translation  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from bookings.models import Booking  # noqa: E402
from equipment.models import MaintenanceWindow  # noqa: E402
from organizations.models import Membership, Organization, OrganizationAPIKey  # noqa: E402
from tests.factories import (  # noqa: E402
    TEST_PASSWORD,
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.fixtures.world import SHANGHAI, local, make_booking  # noqa: E402
from trials.models import Trial  # noqa: E402

# Slow (a real browser): `make test` and CI run them, `make test-fast` leaves them out.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LANGUAGES = ("en", "zh-hans")
GRANULARITY = 15  # minutes: the next slot starts within 17 minutes, so check-in is open


def t(lang: str, msgid: str, *, context: str = "", **params) -> str:
    """``msgid`` as a reader of ``lang`` sees it (Chinese must be translated)."""
    with translation.override(lang):
        text = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    if lang != "en":
        assert text != msgid, f"no {lang} translation of {msgid!r}"
    return text % params if params else text


def tn(lang: str, singular: str, plural: str, n: int, **params) -> str:
    with translation.override(lang):
        text = translation.ngettext(singular, plural, n)
    if lang != "en":
        assert text not in (singular, plural), f"no {lang} translation of {singular!r}"
    return text % params


def verified_user(email: str, organization: Organization, role: str, **fields):
    user = UserFactory(email=email, **fields)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def world(transactional_db):
    operator = OrganizationFactory(flagship=True, name="AutoWorks Smart Factory", slug="autoworks")
    hub = HubFactory(
        operator=operator,
        name="Yizhuang Open Innovation Hub",
        slug="yizhuang",
        timezone="Asia/Shanghai",
    )
    machine = EquipmentFactory(
        hub=hub,
        category=CategoryFactory(name="CNC machining", slug="cnc-machining"),
        name="DMU 50 five-axis machining centre",
        slug="dmu-50",
        approval_required=True,
        lead_time=0,
        slot_granularity=GRANULARITY,
        min_duration=60,
        max_duration=240,
        result_source_kind="demo",
    )
    sme = OrganizationFactory(name="Precision Parts", slug="precision")
    return {
        "operator": operator,
        "hub": hub,
        "machine": machine,
        "sme": sme,
        "lead": verified_user("lead@precision.test", sme, Membership.Role.ADMIN),
        "ops": verified_user("ops@autoworks.test", operator, Membership.Role.OPERATOR),
        "admin": verified_user("admin@autoworks.test", operator, Membership.Role.ADMIN),
    }


def open_as(
    browser,
    live_server,
    screenshots,
    request,
    lang: str,
    email: str | None,
    password: str = TEST_PASSWORD,
    *,
    who: str = "",
):
    """A browser context reading ``lang`` (the language cookie the footer switch sets),
    logged in as ``email``; its page has ``shot(name)``."""
    context = browser.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}, base_url=live_server.url
    )
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    who = who or (email or "anonymous").split("@")[0]
    page.shot = lambda name: page.screenshot(
        path=str(screenshots / f"{request.node.name}-{who}-{name}.png"), full_page=True
    )
    if email:
        page.goto("/accounts/login/")
        page.fill("#id_login", email)
        page.fill("#id_password", password)
        page.locator("#id_password").press("Enter")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


def fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], (page.url, width)


def next_slot(granularity: int) -> datetime:
    """The first slot boundary (hub time) at least two minutes from now."""
    soon = (timezone.now() + timedelta(minutes=2)).astimezone(SHANGHAI)
    minutes = soon.hour * 60 + soon.minute + (1 if soon.second or soon.microsecond else 0)
    minutes = -(-minutes // granularity) * granularity
    midnight = soon.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(minutes=minutes)


# --- the operator's day -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_operator_day(browser, live_server, screenshots, request, world, lang):
    machine, sme = world["machine"], world["sme"]
    start = next_slot(GRANULARITY)
    end = start + timedelta(hours=1)
    # Another SME booking on the machine in three days: the maintenance window cancels it.
    later = make_booking(machine, sme, local(3, 9), local(3, 11), status=Booking.Status.CONFIRMED)

    # 1. A request arrives: the SME asks for the approval-required machine in the portal.
    sme_page = open_as(browser, live_server, screenshots, request, lang, "lead@precision.test")
    sme_page.goto(
        f"/catalog/equipment/{machine.pk}/book/?start={start:%Y-%m-%dT%H:%M}"
        f"&end={end:%Y-%m-%dT%H:%M}"
    )
    sme_page.fill("#id_purpose", "Five-axis finishing of a titanium bracket")
    sme_page.get_by_role("button", name=t(lang, "Request booking")).click()
    expect(sme_page.locator(".messages")).to_contain_text(
        t(lang, "Booking requested: the hub operator will confirm it.")
    )
    sme_page.shot("1-requested")
    booking = Booking.objects.get(organization=sme, start=start)
    assert booking.status == Booking.Status.REQUESTED

    # 2. The operator (a member with the operator role) logs in and lands on the console.
    ops = open_as(browser, live_server, screenshots, request, lang, "ops@autoworks.test")
    assert re.search(r"/console/$", ops.url), ops.url
    expect(ops.locator("h1")).to_have_text(t(lang, "Today at your hubs"))
    expect(ops.locator("main")).to_contain_text(f"#{booking.pk}")
    ops.shot("2-console-home")

    # 3. The queue of requests: approve with a reason.
    ops.get_by_role("link", name=t(lang, "Booking requests"), exact=True).first.click()
    expect(ops.locator("h1")).to_have_text(t(lang, "Requests waiting for approval"))
    ops.fill(f"#approve-{booking.pk}", "Bring your own fixtures; the vice is booked.")
    ops.shot("3-requests")
    ops.get_by_role("button", name=t(lang, "Approve #%(id)s", id=booking.pk)).click()
    expect(ops.locator(".messages")).to_contain_text(
        t(lang, "Booking #%(id)s is approved; the SME is being told.", id=booking.pk)
    )
    expect(ops.locator("main")).to_contain_text(t(lang, "No request is waiting for you."))
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.decision_reason == "Bring your own fixtures; the vice is booked."
    sme_page.reload()  # the SME's booking page: confirmed, with the operator's note
    expect(sme_page.locator("main")).to_contain_text("Bring your own fixtures; the vice is booked.")

    # 4. At the machine (a tablet): check the SME in at the start of the booking.
    ops.set_viewport_size({"width": 820, "height": 1180})
    ops.goto(f"/console/bookings/{booking.pk}/")
    check_in = ops.get_by_role("button", name=t(lang, "Check in"), exact=True)
    assert check_in.bounding_box()["height"] >= 44  # a touch target
    check_in.click()
    expect(ops.locator(".messages")).to_contain_text(
        t(lang, "Booking #%(id)s is checked in.", id=booking.pk)
    )
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CHECKED_IN
    ops.shot("4-checked-in")
    # While the trial runs, its console page has the live panel (polling the console).
    ops.locator("main").get_by_role("link", name=t(lang, "Trial results")).click()
    expect(ops.locator("#live-h")).to_contain_text(t(lang, "Live readings"))
    with ops.expect_response(re.compile(rf"/console/trials/{booking.pk}/live/$")) as panel:
        pass  # htmx refreshes the panel every few seconds, from the console's own URL
    assert panel.value.status == 200
    expect(ops.locator("#live-h")).to_contain_text(t(lang, "receiving"))
    ops.go_back()

    # 5. Some minutes into the slot the operator records completion; results appear.
    with time_machine.travel(start + timedelta(minutes=3), tick=True):
        ops.reload()
        ops.fill("#id_reason", "Bracket finished; fixture removed.")
        complete = ops.get_by_role("button", name=t(lang, "Complete"), exact=True)
        assert complete.bounding_box()["height"] >= 44
        complete.click()
        expect(ops.locator(".messages")).to_contain_text(
            t(lang, "Booking #%(id)s is completed; its results are being collected.", id=booking.pk)
        )
        ops.shot("5-completed")
        trial = Trial.objects.get(pk=booking.pk)
        assert trial.status == Trial.Status.COLLECTED, trial.last_error
        assert trial.measurement_count > 0

        ops.locator("main").get_by_role("link", name=t(lang, "Trial results")).click()
        expect(ops.locator("#summary-h")).to_have_text(t(lang, "Summary"))
        expect(ops.locator("#charts-h")).to_have_text(t(lang, "Charts"))
        expect(ops.locator("figure.chart svg")).to_have_count(len(trial.summary))
        expect(ops.locator("main")).to_contain_text("Precision Parts")
        ops.shot("6-operator-results")
        ops.set_viewport_size({"width": 390, "height": 844})
        fits_the_screen(ops)
        ops.set_viewport_size({"width": 1280, "height": 900})

        # The SME reads the same results in the portal.
        sme_page.goto(f"/trials/{booking.pk}/")
        expect(sme_page.locator("#summary-h")).to_have_text(t(lang, "Summary"))
        expect(sme_page.locator("figure.chart svg")).to_have_count(len(trial.summary))
        sme_page.shot("2-sme-results")

        # 6. A maintenance window, previewed (it lists the booking it cancels), then saved.
        ops.get_by_role("link", name=t(lang, "Maintenance"), exact=True).first.click()
        ops.select_option("#id_equipment", str(machine.pk))
        # Around the later booking, from its own times: inside the time travel "today"
        # may already be tomorrow (a run just before midnight in Shanghai).
        window_start = later.start.astimezone(SHANGHAI) - timedelta(hours=1)
        window_end = later.end.astimezone(SHANGHAI) + timedelta(hours=1)
        ops.fill("#id_start", f"{window_start:%Y-%m-%dT%H:%M}")
        ops.fill("#id_end", f"{window_end:%Y-%m-%dT%H:%M}")
        ops.fill("#id_reason", "Spindle bearing replacement")
        ops.get_by_role("button", name=t(lang, "Preview")).click()
        expect(ops.locator("h1")).to_have_text(t(lang, "Confirm the maintenance window"))
        listed = ops.locator("#cancelled-bookings")
        expect(listed).to_contain_text(f"#{later.pk}")
        expect(listed).to_contain_text("Precision Parts")
        ops.shot("7-maintenance-preview")
        assert not MaintenanceWindow.objects.exists()  # a preview saves nothing
        ops.get_by_role("button", name=t(lang, "Save and cancel these bookings")).click()
        messages = ops.locator(".messages")
        expect(messages).to_contain_text(
            t(lang, "Maintenance window planned for %(name)s.", name=machine.name)
        )
        expect(messages).to_contain_text(
            tn(
                lang,
                "Cancelled booking %(ids)s; its SME is being told.",
                "Cancelled bookings %(ids)s; their SMEs are being told.",
                1,
                ids=f"#{later.pk}",
            )
        )
        expect(ops.locator("main")).to_contain_text("Spindle bearing replacement")
        ops.shot("8-maintenance-saved")
        assert MaintenanceWindow.objects.get().equipment == machine
        assert Booking.objects.get(pk=later.pk).status == Booking.Status.CANCELLED

        # 7. The organisation's admin creates an API key, shown once, and uses it.
        admin = open_as(browser, live_server, screenshots, request, lang, "admin@autoworks.test")
        admin.goto("/console/api-keys/")
        expect(admin.locator("h1")).to_have_text(t(lang, "API keys"))
        admin.fill("#id_name", "MES line 3")
        admin.get_by_role("button", name=t(lang, "Create the key")).click()
        shown = admin.locator("#new-key")
        expect(shown).to_contain_text(
            t(
                lang,
                "The new key “%(name)s”. Copy it now: it is not shown again.",
                name="MES line 3",
            )
        )
        key = shown.locator("code").inner_text().strip()
        admin.shot("1-api-key")
        assert OrganizationAPIKey.objects.get(name="MES line 3").organization == world["operator"]
        answer = admin.request.get("/api/v1/bookings/", headers={"Authorization": f"Bearer {key}"})
        assert answer.status == 200, answer.text()
        ids = {row["id"] for row in answer.json()["results"]}
        assert {booking.pk, later.pk} <= ids
        assert admin.request.get("/api/v1/bookings/").status == 401  # the session is no key
        admin.reload()
        expect(admin.locator("#new-key")).to_have_count(0)  # shown once
        expect(admin.locator("main")).not_to_contain_text(key)
        expect(admin.locator("main")).to_contain_text("MES line 3")

    for page in (sme_page, ops, admin):
        assert page.console_errors == [], page.console_errors


# --- the staff's verification queue -------------------------------------------------------


def sign_up(browser, live_server, screenshots, request, lang: str, email: str, name: str):
    """A new SME registers in the portal and confirms its e-mail address."""
    page = open_as(browser, live_server, screenshots, request, lang, None, who="newcomer")
    page.goto("/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_organization_name", name)
    page.fill("#id_password1", "a-Long-enough-passw0rd")
    page.fill("#id_password2", "a-Long-enough-passw0rd")
    page.locator("#id_password2").press("Enter")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    page.goto(link.group(1))
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    page.shot("signed-up")
    organization = Organization.objects.get(name=name)
    assert organization.kind == Organization.Kind.SME and not organization.verified
    page.context.close()
    return organization


@pytest.fixture
def staff(transactional_db):
    user = UserFactory(email="staff@testbed.test", is_staff=True)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="organizations",
            codename__in=["view_organization", "change_organization"],
        )
    )
    return user


def staff_console(browser, live_server, screenshots, request, lang):
    """Staff log in through /admin/ (the portal's login page) and land on the index."""
    page = open_as(browser, live_server, screenshots, request, lang, None, who="staff")
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.fill("#id_login", "staff@testbed.test")
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(re.compile(r"/admin/$"))
    return page


def decision_mail(to: str) -> mail.EmailMessage:
    sent = [message for message in mail.outbox if to in message.to]
    assert sent, [message.to for message in mail.outbox]
    return sent[-1]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_verify_a_new_sme_from_the_queue(
    browser, live_server, screenshots, request, staff, lang
):
    newco = sign_up(
        browser,
        live_server,
        screenshots,
        request,
        lang,
        "founder@newco-robotics.test",
        "NewCo Robotics",
    )
    page = staff_console(browser, live_server, screenshots, request, lang)
    queue = page.locator("#queue-verification")
    expect(queue.locator("h2")).to_have_text(
        tn(
            lang,
            "%(count)d organisation awaiting verification",
            "%(count)d organisations awaiting verification",
            1,
            count=1,
        )
    )
    item = queue.locator("li.queue-item", has_text="NewCo Robotics")
    expect(item).to_contain_text("founder@newco-robotics.test")
    page.shot("1-queue")
    item.get_by_role("button", name=t(lang, "Verify", context="organisation")).click()
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.locator(".messagelist")).to_contain_text(
        t(
            lang,
            "%(name)s is verified; its administrators are being e-mailed.",
            name="NewCo Robotics",
        )
    )
    expect(page.locator("#queue-verification")).to_contain_text(
        t(lang, "No organisation is awaiting verification.")
    )
    page.shot("2-verified")
    newco.refresh_from_db()
    assert newco.verified
    message = decision_mail("founder@newco-robotics.test")
    assert "NewCo Robotics" in message.subject
    with translation.override(lang):
        assert (
            translation.gettext("%(name)s is verified on Testbed") % {"name": "NewCo Robotics"}
            in message.subject
        )
    assert page.console_errors == [], page.console_errors


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_refuse_a_new_sme_with_a_reason(
    browser, live_server, screenshots, request, staff, lang
):
    newco = sign_up(
        browser, live_server, screenshots, request, lang, "founder@shellco.test", "ShellCo Trading"
    )
    page = staff_console(browser, live_server, screenshots, request, lang)
    item = page.locator("#queue-verification li.queue-item", has_text="ShellCo Trading")
    item.get_by_role("link", name=t(lang, "Refuse with a reason")).click()
    expect(page.locator("#content h1")).to_contain_text(
        t(lang, "Refuse to verify %(name)s", name="ShellCo Trading")
    )
    # Without a reason: refused at the field, nothing changes.
    page.get_by_role("button", name=t(lang, "Refuse verification")).click()
    expect(page.locator(".errorlist")).to_be_visible()
    newco.refresh_from_db()
    assert newco.verification_refused_at is None
    reason = "The credit code does not match the business licence you sent."
    page.fill("#id_reason", reason)
    page.shot("1-refuse")
    page.get_by_role("button", name=t(lang, "Refuse verification")).click()
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.locator(".messagelist")).to_contain_text(
        t(
            lang,
            "%(name)s was not verified; its administrators are being e-mailed the reason.",
            name="ShellCo Trading",
        )
    )
    expect(page.locator("#queue-verification")).not_to_contain_text("ShellCo Trading")
    page.shot("2-refused")
    newco.refresh_from_db()
    assert not newco.verified and newco.verification_refusal_reason == reason
    message = decision_mail("founder@shellco.test")
    assert reason in message.body
    with translation.override(lang):
        assert (
            translation.gettext("%(name)s could not be verified on Testbed")
            % {"name": "ShellCo Trading"}
            in message.subject
        )
    assert page.console_errors == [], page.console_errors
