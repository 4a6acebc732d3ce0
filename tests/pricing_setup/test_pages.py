"""The doors of the money set-up: the admin saves through the services, the operator's
console pages, the SME's quote and voucher pages, the booking form with a voucher, and
the demo seed; pages in both languages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from bookings.models import Booking
from pricing import setup
from pricing.models import Quote, RateCard, VoucherGrant, VoucherProgramme
from tests.fixtures.world import local

pytestmark = pytest.mark.django_db

LANGUAGES = ["en", "zh-hans"]


def get(client, url, language):
    client.cookies["django_language"] = language
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert f'lang="{language}"' in response.content.decode()
    return response


# --- admin ------------------------------------------------------------------------------


def test_admin_adds_a_grant_through_the_service(staff_client, programme, sme):
    with mock.patch.object(setup, "grant_voucher", wraps=setup.grant_voucher) as spy:
        response = staff_client.post(reverse("admin:pricing_vouchergrant_add"), {
            "programme": programme.pk, "organization": sme.pk, "reference_number": "N-9",
            "amount": "5000.00", "valid_from": programme.valid_from.isoformat(),
            "valid_until": programme.valid_until.isoformat()})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert spy.call_count == 1
    assert VoucherGrant.objects.get(reference_number="N-9").granted_by.is_staff


def test_admin_refusal_is_the_services_and_changes_nothing(staff_client, programme, operator):
    response = staff_client.post(reverse("admin:pricing_vouchergrant_add"), {
        "programme": programme.pk, "organization": operator.pk, "reference_number": "N-9",
        "amount": "5000.00", "valid_from": programme.valid_from.isoformat(),
        "valid_until": programme.valid_until.isoformat()}, follow=True)
    assert "Vouchers are granted to SMEs only." in response.content.decode()
    assert not VoucherGrant.objects.exists()


def test_admin_revokes_with_a_reason(staff_client, grant):
    url = reverse("admin:pricing_vouchergrant_changelist")
    page = staff_client.post(url, {"action": "revoke", "_selected_action": [grant.pk]})
    assert page.status_code == 200 and "revoked-grants" in page.content.decode()
    with mock.patch.object(setup, "revoke_grant", wraps=setup.revoke_grant) as spy:
        staff_client.post(url, {"action": "revoke", "_selected_action": [grant.pk],
                                "apply": "1", "reason": "Notice withdrawn"})
    assert spy.call_count == 1
    grant.refresh_from_db()
    assert grant.revoked_reason == "Notice withdrawn"


def test_admin_saves_a_rate_card_with_its_rows_in_one_service_call(staff_client, hub,
                                                                    equipment):
    data = {"hub": hub.pk, "name_en": "Admin card", "valid_from": "2027-01-01",
            "valid_until": "",
            "rates-TOTAL_FORMS": "1", "rates-INITIAL_FORMS": "0",
            "rates-0-equipment": equipment.pk, "rates-0-hourly_rate": "150.00",
            "rates-0-assisted_hourly_surcharge": "30.00", "rates-0-setup_fee": "0",
            "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0",
            "items-0-code": "pla", "items-0-name_en": "PLA", "items-0-name_zh_hans": "PLA线材",
            "items-0-kind": "material", "items-0-unit": "kg", "items-0-unit_price": "180.00"}
    with mock.patch.object(setup, "save_rate_card", wraps=setup.save_rate_card) as spy:
        response = staff_client.post(reverse("admin:pricing_ratecard_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert spy.call_count == 1
    card = RateCard.objects.get(name="Admin card")
    assert card.rates.get().hourly_rate == Decimal("150.00")
    assert card.items.get().name_zh_hans == "PLA线材"


def test_admin_adds_a_programme_with_its_providers(staff_client, hub):
    data = {"name_en": "Voucher", "name_zh_hans": "创新券", "issuer_en": "Commission",
            "issuer_zh_hans": "科委", "reference": "BJ-77", "subsidy_share": "0.4",
            "cap_per_sme_year": "200000", "cap_per_use": "", "valid_from": "2026-01-01",
            "valid_until": "2027-12-31", "claimant": "provider", "providers": [hub.pk]}
    with mock.patch.object(setup, "save_programme", wraps=setup.save_programme) as spy:
        response = staff_client.post(reverse("admin:pricing_voucherprogramme_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert spy.call_count == 1
    assert list(VoucherProgramme.objects.get(reference="BJ-77").providers.all()) == [hub]


@pytest.mark.parametrize("name", ["pricing_ratecard", "pricing_voucherprogramme",
                                  "pricing_vouchergrant", "pricing_affiliation",
                                  "pricing_quote"])
def test_admin_lists_and_add_pages_open(staff_client, card, grant, name):
    assert staff_client.get(reverse(f"admin:{name}_changelist")).status_code == 200


# --- console ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_console_rate_pages_render(operator_portal, card, programme, language):
    page = get(operator_portal, reverse("pricing-console:rate-cards"), language)
    assert page.status_code == 200 and card.name in page.content.decode()
    assert "首都科技创新券" in page.content.decode() or "Capital voucher" in page.content.decode()
    detail = get(operator_portal, reverse("pricing-console:card", args=[card.pk]), language)
    assert detail.status_code == 200 and 'id="rates"' in detail.content.decode()


def test_console_saves_the_card_table(operator_portal, card, equipment):
    response = operator_portal.post(reverse("pricing-console:card", args=[card.pk]), {
        "name_en": "Prices", "valid_from": card.valid_from.isoformat(), "valid_until": "",
        f"rate-{equipment.pk}-hourly_rate": "110.00",
        f"rate-{equipment.pk}-assisted_hourly_surcharge": "-5",
        f"rate-{equipment.pk}-setup_fee": "0",
        "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0", "items-0-code": "al-block",
        "items-0-name_en": "Aluminium block", "items-0-name_zh_hans": "铝块",
        "items-0-kind": "material", "items-0-unit": "piece", "items-0-unit_price": "12.50"})
    assert response.status_code == 400
    assert "A price cannot be negative." in response.content.decode()
    response = operator_portal.post(reverse("pricing-console:card", args=[card.pk]), {
        "name_en": "Prices", "valid_from": card.valid_from.isoformat(), "valid_until": "",
        f"rate-{equipment.pk}-hourly_rate": "110.00",
        f"rate-{equipment.pk}-assisted_hourly_surcharge": "5",
        f"rate-{equipment.pk}-setup_fee": "0",
        "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0", "items-0-code": "al-block",
        "items-0-name_en": "Aluminium block", "items-0-name_zh_hans": "铝块",
        "items-0-kind": "material", "items-0-unit": "piece", "items-0-unit_price": "12.50"})
    assert response.status_code == 302
    assert card.rates.get().hourly_rate == Decimal("110.00")


def test_console_starts_new_prices_from_a_date(operator_portal, card, hub):
    day = (card.valid_from + timedelta(days=400)).isoformat()
    response = operator_portal.post(
        reverse("pricing-console:new-card", args=[hub.slug]),
        {f"hub-{hub.pk}-valid_from": day, f"hub-{hub.pk}-name": "Next"})
    new = RateCard.objects.get(name="Next")
    assert response.url == reverse("pricing-console:card", args=[new.pk])


def test_another_operators_card_is_not_found(card, other_operator):
    from tests.factories import MembershipFactory, UserFactory

    from .conftest import logged_in
    user = UserFactory()
    MembershipFactory(user=user, organization=other_operator, role="operator")
    assert logged_in(user).get(
        reverse("pricing-console:card", args=[card.pk])).status_code == 404


def test_smes_are_not_let_into_the_console(sme_portal):
    assert sme_portal.get(reverse("pricing-console:rate-cards")).status_code == 403


# --- portal -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_quote_flow_and_pages_render(sme_portal, card, grant, equipment, language):
    start = local(3, 10)
    form = get(sme_portal, reverse("pricing:quote-new", args=[equipment.pk]), language)
    assert form.status_code == 200
    response = sme_portal.post(reverse("pricing:quote-new", args=[equipment.pk]), {
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "assisted": "on", "item_al-block": "2", "voucher_grant": str(grant.pk),
        "if_voucher_short": "sme_pays"})
    assert response.status_code == 302, response.content.decode()[:3000]
    quote = Quote.objects.get(kind=Quote.Kind.ESTIMATE)
    # 2 h × 100 + 2 h × 50 + 80 set-up + 2 × 12.50: the voucher pays half of the first three.
    assert (quote.total, quote.voucher_total) == (Decimal("405.00"), Decimal("190.00"))
    page = get(sme_portal, response.url, language)
    assert "?start=" in page.content.decode()  # "Book with this quote" carries the period
    for name in ("pricing:quotes", "pricing:vouchers"):
        assert get(sme_portal, reverse(name), language).status_code == 200


def test_another_smes_quote_is_not_found(sme_portal, other_sme, hub):
    from tests.factories import QuoteFactory
    quote = QuoteFactory(hub=hub, organization=other_sme)
    assert sme_portal.get(reverse("pricing:quote", args=[quote.pk])).status_code == 404


def test_booking_form_books_with_the_voucher_split(sme_portal, card, grant, equipment):
    start = local(4, 10)
    end = start + timedelta(hours=2)
    url = reverse("bookings:book", args=[equipment.pk])
    page = sme_portal.get(url, {"start": start.strftime("%Y-%m-%dT%H:%M"),
                                "end": end.strftime("%Y-%m-%dT%H:%M"),
                                "voucher_grant": grant.pk})
    html = page.content.decode()
    assert 'name="voucher_grant"' in html and "¥140.00" in html  # half of 200 + 80
    response = sme_portal.post(url, {
        "start": start.strftime("%Y-%m-%dT%H:%M"), "end": end.strftime("%Y-%m-%dT%H:%M"),
        "purpose": "Roughing trial", "trial_lead": "lead@precision.test",
        "voucher_grant": str(grant.pk), "if_voucher_short": "sme_pays"})
    assert response.status_code == 302, response.content.decode()[:3000]
    booking = Booking.objects.get()
    assert (booking.quote.total, booking.quote.voucher_total) == (Decimal("280.00"),
                                                                  Decimal("140.00"))
    grant.refresh_from_db()
    assert grant.used == Decimal("140.00")
    detail = sme_portal.get(reverse("bookings:detail", args=[booking.pk])).content.decode()
    assert "quote-lines" in detail and "¥140.00" in detail
    vouchers = sme_portal.get(reverse("pricing:vouchers")).content.decode()
    assert f"#{booking.pk}" in vouchers


def test_booking_form_shows_why_a_voucher_cannot_be_used(sme_portal, card, grant, equipment,
                                                         staff):
    setup.declare_affiliation(organization=grant.organization, affiliate=equipment.hub.operator,
                              kind="control", by_user=staff)
    start = local(4, 10)
    response = sme_portal.post(reverse("bookings:book", args=[equipment.pk]), {
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "purpose": "Roughing trial", "trial_lead": "lead@precision.test",
        "voucher_grant": str(grant.pk), "if_voucher_short": "sme_pays"})
    assert "affiliated with this hub" in response.content.decode()
    assert not Booking.objects.exists()


# --- demo -------------------------------------------------------------------------------


def test_seed_demo_sets_up_money_once():
    call_command("seed_demo", "--no-keys", stdout=StringIO())
    counts = (RateCard.objects.count(), VoucherGrant.objects.count())
    call_command("seed_demo", "--no-keys", stdout=StringIO())
    assert (RateCard.objects.count(), VoucherGrant.objects.count()) == counts == (3, 2)
    programme = VoucherProgramme.objects.get()
    assert programme.name_zh_hans == "北京市首都科技创新券"
    assert programme.providers.count() == 3
