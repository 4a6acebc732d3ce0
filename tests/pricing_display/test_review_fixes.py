"""UI review fixes of the money pages: quote status words with a context of their own,
the booking form's price preview kept after an error, "Get a quote" links carrying the
period, quantities as people write them, whole pieces, a revoked grant shown unusable,
the admin's revocation form kept with its error, and rate-card names in both languages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from core.errors import ValidationFailed
from pricing import services, setup
from pricing.models import PricedItem, Quote, RateCard, Unit
from pricing.views import quantity_text
from tests.factories import (
    MembershipFactory,
    PricedItemFactory,
    UserFactory,
)
from tests.fixtures.world import SHANGHAI, local

D = Decimal
pytestmark = pytest.mark.django_db


def form_time(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_quote_status_words_have_their_own_context():
    # "Open", "Booked" and "Released" mean other things elsewhere (打开, 预约时长, 发布时间).
    for status in Quote.Status:
        assert status.label._args[0] == "quote status", status


def test_the_price_preview_stays_after_a_form_error(client_sme, equipment, rate):
    start = local(3, 9)
    response = client_sme.post(reverse("bookings:book", args=[equipment.pk]), {
        "start": form_time(start), "end": form_time(start + timedelta(hours=2)),
        "purpose": "", "trial_lead": ""})
    assert response.status_code == 200 or response.status_code == 400
    page = response.content.decode()
    assert "errorlist" in page or "form-errors" in page
    assert "Price for this period" in page and "¥1,000.00" in page


def test_get_a_quote_links_keep_the_period(client_sme, equipment, rate):
    quote_url = reverse("pricing:quote-new", args=[equipment.pk])
    assert quote_url in client_sme.get(reverse("catalog:equipment",
                                                args=[equipment.pk])).content.decode()
    assert quote_url in client_sme.get(reverse("bookings:calendar",
                                                args=[equipment.pk])).content.decode()
    start = local(3, 9)
    preview = client_sme.get(reverse("bookings:price", args=[equipment.pk]), {
        "start": form_time(start), "end": form_time(start + timedelta(hours=2))})
    link = re.search(r'id="get-a-quote" href="([^"]+)"', preview.content.decode()).group(1)
    link = link.replace("&amp;", "&")
    assert link.startswith(quote_url + "?")
    form = client_sme.get(link).content.decode()
    assert f'value="{form_time(start)}"' in form


def test_quantities_as_people_write_them():
    assert quantity_text(D("2.5000"), Unit.HOUR) == "2.5 h"
    assert quantity_text(D("2.0000"), Unit.HOUR) == "2 h"
    assert quantity_text(D("3.0000"), Unit.PIECE) == "3 piece"
    assert quantity_text(D("100.0000"), Unit.KG) == "100 kg"


def test_the_lines_wrap_between_words_on_a_phone(client_sme, sme, equipment, rate):
    quote = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                     start=local(3, 9), end=local(3, 11, 30))
    page = client_sme.get(reverse("pricing:quote", args=[quote.pk])).content.decode()
    table = page[page.index('class="stack quote-lines"'):page.index("</tbody>")]
    # Each stacked cell holds one element: its words wrap together, never mid-word.
    for cell in re.findall(r"<td [^>]*>(.*?)</td>", table, flags=re.S):
        assert re.fullmatch(r"\s*<(div|span)>.*</\1>\s*", cell, flags=re.S), cell
    assert "2.5 h" in table


def test_a_fractional_piece_is_refused_at_its_field(client_sme, sme, equipment, card, rate):
    PricedItemFactory(card=card, code="bolt", name="Bolt", unit=Unit.PIECE,
                      unit_price=D("2.00"))
    with pytest.raises(ValidationFailed) as exc:
        services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                 start=local(3, 9), end=local(3, 11), items=[("bolt", "1.5")])
    assert [v.code for v in exc.value.violations] == ["item_quantity_whole"]
    start = local(3, 9)
    response = client_sme.post(reverse("pricing:quote-new", args=[equipment.pk]), {
        "start": form_time(start), "end": form_time(start + timedelta(hours=2)),
        "item_bolt": "1.5", "if_voucher_short": "sme_pays"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is sold by the piece: give a whole number" in page
    assert not Quote.objects.filter(kind=Quote.Kind.ESTIMATE).exists()
    # A kilogram may be fractional.
    PricedItemFactory(card=card, code="swarf", name="Swarf", unit=Unit.KG, unit_price=D("1"))
    services.create_estimate(organization=sme, equipment_id=equipment.pk, start=local(3, 9),
                             end=local(3, 11), items=[("swarf", "1.5")])


def test_a_revoked_grant_is_shown_unusable(client_sme, grant):
    setup.revoke_grant(grant_id=grant.pk, reason="Withdrawn",
                       by_user=UserFactory(is_staff=True))
    page = client_sme.get(reverse("pricing:vouchers")).content.decode()
    assert "Revoked — not usable" in page
    remaining = page[page.index(">Remaining<"):]
    assert remaining[:remaining.index("</dd>")].count("¥0.00") == 1
    assert "¥10,000.00</strong>" not in page


def test_admin_revocation_without_a_reason_keeps_the_form(grant):
    from django.test import Client

    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.post(reverse("admin:pricing_vouchergrant_changelist"), {
        "action": "revoke", "_selected_action": [grant.pk], "apply": "1", "reason": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "revoked-grants" in page and "Say why the grant is revoked." in page
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_a_new_card_is_named_in_both_languages_and_not_in_the_past(hub, operator, equipment):
    hub.name_zh_hans = "亦庄基地"
    hub.save()
    today = timezone.now().astimezone(SHANGHAI).date()
    with pytest.raises(ValidationFailed) as exc:
        setup.copy_rate_card(hub=hub, operator=operator, valid_from=today - timedelta(days=1))
    assert [(v.field, v.code) for v in exc.value.violations] \
        == [("valid_from", "rate_card_from_past")]
    day = today + timedelta(days=10)
    card = setup.copy_rate_card(hub=hub, operator=operator, valid_from=day)
    assert card.name_en == f"{hub.name_en} prices from {day.isoformat()}"
    assert "亦庄基地" in card.name_zh_hans and day.isoformat() in card.name_zh_hans
    assert hub.slug not in card.name_en
    with translation.override("zh-hans"):
        assert RateCard.objects.get(pk=card.pk).name == card.name_zh_hans
    # Moving an existing card's start into the past is refused too; keeping it is fine.
    with pytest.raises(ValidationFailed):
        setup.save_rate_card(card=card, hub=hub, operator=operator, name="x",
                             valid_from=date(2020, 1, 1))
    setup.save_rate_card(card=card, hub=hub, operator=operator, name="Prices",
                         name_zh_hans="价目", valid_from=day)
    card.refresh_from_db()
    assert (card.name_en, card.name_zh_hans) == ("Prices", "价目")


def test_console_new_card_in_the_past_is_a_field_error(hub, operator):
    from django.test import Client

    from organizations.models import Membership

    user = MembershipFactory(organization=operator, role=Membership.Role.OPERATOR).user
    client = Client()
    client.force_login(user)
    response = client.post(reverse("pricing-console:new-card", args=[hub.slug]),
                           {f"hub-{hub.pk}-valid_from": "2020-01-01"})
    assert response.status_code == 400
    assert "New prices start today" in response.content.decode()
    assert not RateCard.objects.filter(hub=hub).exists()
    assert PricedItem.objects.count() == 0
