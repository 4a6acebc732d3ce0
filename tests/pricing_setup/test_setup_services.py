"""The set-up services' rules (pricing.setup): rate cards, copies from a date, programmes,
grants and their revocation, declared affiliations."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from pricing import setup
from pricing.models import Affiliation, PricedItem, RateCard, VoucherGrant
from tests.factories import (
    EquipmentFactory,
    HubFactory,
    QuoteLineFactory,
)

pytestmark = pytest.mark.django_db


def codes(exc) -> dict[str, str]:
    return {v.field: v.code for v in exc.value.violations}


def rate(equipment, hourly="120.00", surcharge="40.00", setup_fee="60.00"):
    return {"equipment": equipment, "hourly_rate": hourly,
            "assisted_hourly_surcharge": surcharge, "setup_fee": setup_fee}


def item(code="al-block", price="12.50", **extra):
    return {"code": code, "name_en": "Aluminium block", "name_zh_hans": "铝块",
            "kind": "material", "unit": "piece", "unit_price": price, **extra}


def test_operator_saves_a_card_with_rates_and_items(hub, operator, equipment):
    card = setup.save_rate_card(hub=hub, operator=operator, name="2027",
                                valid_from=date(2027, 1, 1), rates=[rate(equipment)],
                                items=[item()])
    stored = card.rates.get()
    assert (stored.hourly_rate, stored.assisted_hourly_surcharge, stored.setup_fee) == (
        Decimal("120.00"), Decimal("40.00"), Decimal("60.00"))
    assert card.items.get().name_zh_hans == "铝块"


def test_every_broken_rule_is_reported_at_once_and_nothing_is_written(hub, operator, equipment):
    elsewhere = EquipmentFactory(hub=HubFactory(operator=operator))
    with pytest.raises(ValidationFailed) as exc:
        setup.save_rate_card(
            hub=hub, operator=operator, name=" ", valid_from=date(2027, 1, 2),
            valid_until=date(2027, 1, 1),
            rates=[rate(equipment, hourly="-1"), rate(elsewhere),
                   rate(equipment, surcharge="1.005")],
            items=[item(), item(price="x"), item(code="")])
    found = codes(exc)
    assert found["name"] == "rate_card_name_required"
    assert found["valid_until"] == "rate_card_until_before_from"
    assert found["rates.0.hourly_rate"] == "price_negative"
    assert found["rates.1.equipment"] == "rate_equipment_not_on_hub"
    assert found["rates.2.equipment"] == "rate_equipment_twice"
    assert found["items.1.code"] == "item_code_twice"
    assert found["items.1.unit_price"] == "price_invalid"
    assert found["items.2.code"] == "item_code_required"
    assert not RateCard.objects.exists()


def test_only_the_hubs_operator_or_staff_saves_its_card(hub, other_operator, sme, staff):
    for who in (other_operator, sme):
        with pytest.raises(Forbidden):
            setup.save_rate_card(hub=hub, operator=who, name="x", valid_from=date(2027, 1, 1))
    with pytest.raises(Forbidden):
        setup.save_rate_card(hub=hub, operator=None, by_user=None, name="x",
                             valid_from=date(2027, 1, 1))
    assert setup.save_rate_card(hub=hub, operator=None, by_user=staff, name="x",
                                valid_from=date(2027, 1, 1)).pk


def test_one_card_per_hub_and_day(card, operator):
    with pytest.raises(ValidationFailed) as exc:
        setup.save_rate_card(hub=card.hub, operator=operator, name="again",
                             valid_from=card.valid_from)
    assert codes(exc) == {"valid_from": "rate_card_day_taken"}


def test_an_item_on_a_quote_stays_on_its_card(card, operator, equipment):
    used = card.items.get()
    QuoteLineFactory(kind="item", item=used, quantity=Decimal("1"), unit="piece",
                     unit_price=used.unit_price)
    with pytest.raises(ValidationFailed) as exc:
        setup.save_rate_card(card=card, hub=card.hub, operator=operator, name=card.name,
                             valid_from=card.valid_from, rates=[rate(equipment)], items=[])
    assert codes(exc) == {"items": "item_in_use"}
    assert card.items.count() == 1
    # Changing its price in place is fine (quotes keep their own line prices).
    setup.save_rate_card(card=card, hub=card.hub, operator=operator, name=card.name,
                         valid_from=card.valid_from, rates=[rate(equipment)],
                         items=[item(code=used.code, price="13.00")])
    assert card.items.get().unit_price == Decimal("13.00")


def test_a_new_card_from_a_date_copies_and_ends_the_one_before(card, operator):
    start = timezone.localdate() + timedelta(days=30)
    new = setup.copy_rate_card(hub=card.hub, operator=operator, valid_from=start,
                               name="Next prices")
    card.refresh_from_db()
    assert card.valid_until == start - timedelta(days=1)
    assert new.valid_until is None
    assert [r.hourly_rate for r in new.rates.all()] == [Decimal("100.00")]
    assert list(new.items.values_list("code", flat=True)) == ["al-block"]
    with pytest.raises(ValidationFailed) as exc:
        setup.copy_rate_card(hub=card.hub, operator=operator, valid_from=card.valid_from)
    assert codes(exc) == {"valid_from": "rate_card_day_taken"}


def test_a_first_card_takes_the_equipments_own_rates(hub, operator, equipment):
    card = setup.copy_rate_card(hub=hub, operator=operator, valid_from=date(2027, 1, 1))
    assert card.rates.get().hourly_rate == equipment.hourly_rate
    assert not PricedItem.objects.filter(card=card).exists()


def programme_data(**extra):
    return {"name_en": "Voucher", "name_zh_hans": "创新券", "issuer_en": "Commission",
            "issuer_zh_hans": "科委", "reference": "BJ-1", "subsidy_share": Decimal("0.5"),
            "cap_per_sme_year": Decimal("500000"), "cap_per_use": None,
            "valid_from": date(2026, 1, 1), "valid_until": date(2027, 12, 31), **extra}


def test_programmes_are_staff_work_and_checked(staff, operator, hub):
    with pytest.raises(Forbidden):
        setup.save_programme(data=programme_data(), by_user=None)
    with pytest.raises(ValidationFailed) as exc:
        setup.save_programme(data=programme_data(subsidy_share=Decimal("1.5"),
                                                 valid_until=date(2025, 1, 1)),
                             by_user=staff)
    assert codes(exc)["subsidy_share"] == "programme_share_range"
    assert codes(exc)["valid_until"] == "programme_until_before_from"
    programme = setup.save_programme(data=programme_data(), providers=[hub], by_user=staff)
    assert list(programme.providers.all()) == [hub]
    with pytest.raises(ValidationFailed) as exc:
        setup.save_programme(data=programme_data(), by_user=staff)
    assert codes(exc) == {"reference": "programme_reference_taken"}


def test_a_programme_keeps_covering_its_grants(staff, grant):
    programme = grant.programme
    with pytest.raises(ValidationFailed) as exc:
        setup.save_programme(programme=programme, by_user=staff,
                             data={"valid_until": grant.valid_until - timedelta(days=1)})
    assert codes(exc) == {"valid_from": "programme_grants_outside"}


def test_grants_go_to_smes_within_the_programme(staff, programme, sme, operator):
    kwargs = dict(programme_id=programme.pk, valid_from=programme.valid_from,
                  valid_until=programme.valid_until, by_user=staff)
    with pytest.raises(ValidationFailed) as exc:
        setup.grant_voucher(organization=operator, amount="0", reference_number="",
                            **kwargs)
    assert codes(exc) == {"organization": "grant_sme_only", "amount": "grant_amount_positive",
                          "reference_number": "grant_reference_required"}
    with pytest.raises(ValidationFailed) as exc:
        setup.grant_voucher(organization=sme, amount="100", reference_number="N-1",
                            **{**kwargs, "valid_until": programme.valid_until
                               + timedelta(days=1)})
    assert codes(exc) == {"valid_from": "grant_outside_programme"}
    grant = setup.grant_voucher(organization=sme, amount="100.00", reference_number="N-1",
                                **kwargs)
    assert (grant.amount, grant.used, grant.granted_by) == (Decimal("100.00"), 0, staff)
    with pytest.raises(ValidationFailed) as exc:
        setup.grant_voucher(organization=sme, amount="100", reference_number="N-1", **kwargs)
    assert codes(exc) == {"reference_number": "grant_reference_taken"}
    with pytest.raises(Forbidden):
        setup.grant_voucher(organization=sme, amount="100", reference_number="N-2",
                            **{**kwargs, "by_user": None})


def test_revoking_keeps_what_was_used(staff, grant):
    VoucherGrant.objects.filter(pk=grant.pk).update(used=Decimal("300.00"))
    with pytest.raises(ValidationFailed):
        setup.revoke_grant(grant_id=grant.pk, reason=" ", by_user=staff)
    revoked = setup.revoke_grant(grant_id=grant.pk, reason="Notice withdrawn", by_user=staff)
    assert revoked.revoked_at is not None and revoked.used == Decimal("300.00")
    with pytest.raises(Conflict):
        setup.revoke_grant(grant_id=grant.pk, reason="again", by_user=staff)


def test_affiliations_once_per_pair_either_way(staff, sme, operator):
    with pytest.raises(ValidationFailed) as exc:
        setup.declare_affiliation(organization=sme, affiliate=sme, kind="ownership",
                                  by_user=staff)
    assert codes(exc) == {"affiliate": "affiliation_self"}
    tie = setup.declare_affiliation(organization=sme, affiliate=operator, kind="control",
                                    by_user=staff)
    with pytest.raises(ValidationFailed) as exc:
        setup.declare_affiliation(organization=operator, affiliate=sme, kind="ownership",
                                  by_user=staff)
    assert codes(exc) == {"affiliate": "affiliation_exists"}
    setup.end_affiliation(affiliation_id=tie.pk, by_user=staff)
    with pytest.raises(Conflict):
        setup.end_affiliation(affiliation_id=tie.pk, by_user=staff)
    assert setup.declare_affiliation(organization=operator, affiliate=sme, kind="ownership",
                                     by_user=staff).pk
    assert Affiliation.objects.filter(ended_at__isnull=True).count() == 1
