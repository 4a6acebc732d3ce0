import io
import re
import zipfile
from datetime import date
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from billing.claims import evidence
from billing.claims import services as claim_services
from billing.models import ServiceRequest
from billing.requests import services as request_services
from billing.statements import builder
from billing.statements import services as statement_services
from bookings.models import Booking
from equipment.models import Equipment, Hub, Qualification
from organizations.models import Membership, Organization, OrganizationAPIKey
from pricing.models import Quote, QuoteLine, RateCard, VoucherGrant, VoucherProgramme
from testbed.management.commands import seed_demo

pytestmark = pytest.mark.django_db

KEY_LINE = re.compile(r"^\s+(?P<slug>[a-z0-9-]+)\s+(?P<key>[A-Za-z0-9]+\.[A-Za-z0-9]+)$", re.M)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def readme_users() -> list[tuple[str, str]]:
    """(e-mail, role) rows of the demo-user table in README.md."""
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([^`]+)` \| [^|]+ \| (\w+|—) \|$", readme, re.M)


def test_seeding_twice_changes_nothing():
    seed("--no-keys")
    counts = row_counts()
    equipment = dict(Equipment.objects.values_list("pk", "updated"))
    passwords = dict(get_user_model().objects.values_list("pk", "password"))
    seed("--no-keys")
    assert row_counts() == counts
    assert dict(Equipment.objects.values_list("pk", "updated")) == equipment  # not re-saved
    assert dict(get_user_model().objects.values_list("pk", "password")) == passwords


def test_seeding_restores_edited_demo_rows():
    seed("--no-keys")
    dmu = Equipment.objects.get(slug="dmg-dmu-50")
    dmu.hourly_rate, dmu.max_duration = 1, 60
    dmu.save()
    dmu.capabilities.clear()
    seed("--no-keys")
    dmu.refresh_from_db()
    assert dmu.hourly_rate == 680 and dmu.max_duration == 480
    assert set(dmu.capabilities.values_list("slug", flat=True)) == {"5-axis",
                                                                     "high-speed-spindle"}


def test_demo_catalog_is_what_the_design_promises():
    seed("--no-keys")
    flagships = Organization.objects.filter(kind="flagship")
    assert set(flagships.values_list("slug", flat=True)) == {"autoworks", "phonetech"}
    assert set(Organization.objects.filter(kind="sme", verified=True)
               .values_list("slug", flat=True)) == {"precisionparts", "greenmotor", "sensorlab"}
    assert Organization.objects.get(slug="newco").verified is False
    assert set(Organization.objects.filter(kind="university")
               .values_list("slug", flat=True)) == {"tsinghua", "beihang"}
    for org in Organization.objects.all():
        org.full_clean()  # credit codes are valid
    for hub in Hub.objects.all():
        hub.full_clean()
    assert Hub.objects.filter(slug="autoworks-yizhuang", operator__slug="autoworks").exists()
    assert Hub.objects.filter(slug="phonetech-changping", operator__slug="phonetech").exists()

    equipment = Equipment.objects.all()
    assert 18 <= equipment.count() <= 25
    for item in equipment:
        item.full_clean()  # policies are consistent
    assert equipment.values("category").distinct().count() >= 6
    available = equipment.filter(status="available")
    assert available.filter(approval_required=False).count() > equipment.count() / 2
    assert equipment.filter(approval_required=True).exists()
    assert equipment.filter(qualification_required=True).exists()
    assert equipment.filter(changeover_buffer__gt=0).exists()
    assert equipment.filter(status="down").count() == 1
    assert equipment.filter(result_source_kind="demo").count() > equipment.count() / 2
    assert all(e.capabilities.exists() for e in equipment)

    qualification = Qualification.objects.get(user__email="engineer@precisionparts.example")
    assert qualification.equipment.qualification_required


def test_readme_demo_users_exist_and_can_log_in(client):
    seed("--no-keys")
    users = readme_users()
    assert len(users) == len(seed_demo.USERS) + 1  # and staff
    for email, role in users:
        user = get_user_model().objects.get(username=email)
        assert user.email == email
        assert user.check_password(seed_demo.DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=email, verified=True,
                                           primary=True).exists()
        if role == "—":
            assert user.is_superuser and user.is_staff
            assert not user.memberships.exists()
        else:
            assert list(user.memberships.values_list("role", flat=True)) == [role]
    assert Membership.objects.count() == len(seed_demo.USERS)
    # E-mail verification is mandatory; the verified address lets the demo user in.
    response = client.post("/accounts/login/", {"login": "lead@precisionparts.example",
                                                "password": seed_demo.DEMO_PASSWORD})
    assert response.status_code == 302
    assert "verify" not in response["Location"] and "confirm" not in response["Location"]
    assert client.session.get("_auth_user_id") == str(
        get_user_model().objects.get(username="lead@precisionparts.example").pk)


def test_readme_memberships_match_the_seed():
    seed("--no-keys")
    for email, role in readme_users():
        if role != "—":
            membership = Membership.objects.get(user__username=email)
            assert (membership.organization.slug, membership.role) == seed_demo.USERS[email]


def test_printed_keys_authenticate_and_replace_the_previous_ones():
    first = dict(KEY_LINE.findall(seed()))
    assert set(first) == set(Organization.objects.values_list("slug", flat=True))
    client = APIClient()
    for key in first.values():
        response = client.get("/api/v1/equipment/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
    assert response.json()["count"] == Equipment.objects.count()

    counts = row_counts()
    second = dict(KEY_LINE.findall(seed()))
    assert row_counts() == counts  # one demo key per organisation, however often
    assert OrganizationAPIKey.objects.filter(name="demo").count() == len(second)
    old = client.get("/api/v1/hubs/", HTTP_AUTHORIZATION=f"Bearer {first['autoworks']}")
    assert old.status_code == 401
    new = client.get("/api/v1/hubs/", HTTP_AUTHORIZATION=f"Bearer {second['autoworks']}")
    assert new.status_code == 200


def test_no_keys_leaves_existing_keys_alone():
    seed()
    keys = set(OrganizationAPIKey.objects.values_list("pk", flat=True))
    output = seed("--no-keys")
    assert not KEY_LINE.search(output)
    assert set(OrganizationAPIKey.objects.values_list("pk", flat=True)) == keys


def test_output_lists_the_logins():
    output = seed("--no-keys")
    for email, _role in readme_users():
        assert email in output
    assert seed_demo.DEMO_PASSWORD in output


@pytest.mark.parametrize("query", ["五轴", "five-axis", "5-axis"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_visitor_finds_the_demos_five_axis_machines(client, query, language):
    """The public catalogue, no account, on the demo's data: the search finds exactly the
    machines with the five-axis capability, whatever the reader's language."""
    seed("--no-keys")
    five_axis = set(Equipment.objects.filter(capabilities__slug="5-axis")
                    .values_list("pk", flat=True))
    assert len(five_axis) >= 2
    client.cookies["django_language"] = language
    response = client.get("/catalog/", {"q": query})
    assert response.status_code == 200
    assert {e.pk for e in response.context["page"].object_list} == five_axis


# --- money: every demo booking priced; statements, a claim and service requests to try -----


NOVEMBER = date(2026, 11, 1)


def test_every_demo_booking_is_priced_by_the_pricing_service():
    seed("--no-keys")
    bookings = Booking.objects.select_related("quote").all()
    assert bookings.count() >= 7  # history, the plant's trials, the pending request
    for booking in bookings:
        quote = booking.quote
        assert quote is not None, booking
        assert quote.kind == Quote.Kind.BOOKING and quote.status == Quote.Status.BOOKED
        lines = list(quote.lines.all())
        assert lines and booking.price == quote.total == sum(li.amount for li in lines)
        assert all(li.voucher_share + li.sme_share == li.amount for li in lines)
    # The grants' used amounts are the voucher shares of their booked quotes.
    for grant in VoucherGrant.objects.all():
        booked = QuoteLine.objects.filter(quote__grant=grant, quote__status="booked")
        assert grant.used == sum(booked.values_list("voucher_share", flat=True))
    assert VoucherGrant.objects.get(organization__slug="precisionparts").used > 0


def test_november_can_be_stated_and_claimed_at_autoworks(client):
    seed("--no-keys")
    client.force_login(get_user_model().objects.get(username="ops@autoworks.example"))
    preview = client.get(reverse("billing-console:statement-issue"), {"month": "2026-11"})
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Precision Parts" in page and "Green Motor" in page

    autoworks = Organization.objects.get(slug="autoworks")
    precision = Organization.objects.get(slug="precisionparts")
    lines = builder.pending_lines(operator=autoworks, month=NOVEMBER)
    assert lines and all(line.amount > 0 for line in lines)
    with_voucher = {line.booking.pk for line in lines if line.voucher_share > 0
                    and line.organization_id == precision.pk}
    assert len(with_voucher) >= 2  # two completed November bookings on Precision Parts' grant

    programme = VoucherProgramme.objects.get(reference=seed_demo.PROGRAMME["reference"])
    claim, created = claim_services.draft_claim(provider=autoworks, programme_id=programme.pk,
                                                month=NOVEMBER)
    assert created and claim.lines.count() >= 2
    assert claim.amount == sum(claim.lines.values_list("amount", flat=True)) > 0
    with zipfile.ZipFile(io.BytesIO(evidence.claim_bundle(claim, language="en"))) as bundle:
        names = set(bundle.namelist())
    assert {"summary.pdf", "claim.csv", "claim.json", "manifest.json"} <= names
    for line in claim.lines.all():
        assert f"bookings/{line.booking_id}/quote.json" in names

    statements = statement_services.issue_statements(operator=autoworks, month=NOVEMBER)
    assert {s.organization.slug for s in statements} == {"precisionparts", "greenmotor"}
    assert all(s.voucher_total > 0 and s.total == s.voucher_total + s.sme_total
               for s in statements)


def test_precision_parts_sees_its_used_voucher(client):
    seed("--no-keys")
    grant = VoucherGrant.objects.get(organization__slug="precisionparts")
    client.force_login(get_user_model().objects.get(username="lead@precisionparts.example"))
    response = client.get(reverse("pricing:vouchers"))
    assert response.status_code == 200
    assert f"{grant.used:,.2f}" in response.content.decode()


def test_service_requests_wait_in_the_queue_and_the_offer_can_be_accepted():
    seed("--no-keys")
    submitted = ServiceRequest.objects.get(status=ServiceRequest.Status.SUBMITTED)
    assert submitted.organization.slug == "precisionparts"
    assert submitted.hub.operator.slug == "autoworks" and submitted.equipment.count() == 2
    quoted = ServiceRequest.objects.get(status=ServiceRequest.Status.QUOTED)
    assert quoted.organization.slug == "greenmotor" and quoted.offer.status == "open"
    assert quoted.offer.lines.filter(kind="assisted").count() == 2

    green_motor = quoted.organization
    grant = VoucherGrant.objects.get(organization=green_motor)
    made = request_services.accept_offer(request_id=quoted.pk, organization=green_motor,
                                         grant_id=grant.pk)
    assert len(made) == 2 and all(b.quote.voucher_total > 0 for b in made)

    counts = row_counts()
    seed("--no-keys")  # the answered request was accepted: a fresh one to try again
    assert ServiceRequest.objects.filter(status=ServiceRequest.Status.QUOTED).count() == 1
    assert row_counts()["billing.ServiceRequest"] == counts["billing.ServiceRequest"] + 1


def test_demo_bookings_seeded_before_prices_get_their_quote():
    seed("--no-keys")
    unpriced = Booking.objects.filter(purpose__in=[h[-1] for h in seed_demo.HISTORY])
    quotes = list(unpriced.values_list("quote_id", flat=True))
    Booking.objects.filter(pk__in=unpriced.values("pk")).update(quote=None)
    Quote.objects.filter(pk__in=quotes).delete()
    VoucherGrant.objects.update(used=0)

    seed("--no-keys")
    assert not unpriced.filter(quote__isnull=True).exists()
    grant = VoucherGrant.objects.get(organization__slug="precisionparts")
    assert grant.used == sum(QuoteLine.objects.filter(quote__grant=grant, quote__status="booked")
                             .values_list("voucher_share", flat=True)) > 0


def test_demo_rate_cards_are_named_in_both_languages():
    seed("--no-keys")
    card = RateCard.objects.get(hub__slug="autoworks-yizhuang")
    assert (card.name_en, card.name_zh_hans) == ("Yizhuang prices 2026", "亦庄基地2026年价目")
    # A card seeded before names were translated gets its Chinese name, its prices kept.
    RateCard.objects.filter(pk=card.pk).update(name_zh_hans="")
    rates = list(card.rates.values_list("equipment_id", "hourly_rate").order_by("pk"))
    seed("--no-keys")
    card.refresh_from_db()
    assert card.name_zh_hans == "亦庄基地2026年价目"
    assert sorted(card.rates.values_list("equipment_id", "hourly_rate")) == sorted(rates)
