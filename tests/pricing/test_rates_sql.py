"""pricing.selectors.rates_on is plain SQL (every booking creation runs it): it answers
what the ORM's query answers, card by card."""

from datetime import date, timedelta

import pytest
from django.db.models import Q

from pricing.models import EquipmentRate, RateCard
from pricing.selectors import rates_on
from tests.factories import EquipmentFactory, EquipmentRateFactory, RateCardFactory

pytestmark = pytest.mark.django_db


def orm_rates(hub, day, equipment_ids):
    card = (RateCard.objects.filter(hub=hub, valid_from__lte=day)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
            .order_by("-valid_from").first())
    if card is None:
        return {}
    return {r.equipment_id: r for r in EquipmentRate.objects.filter(
        card=card, equipment_id__in=equipment_ids)}


def test_rates_on_equals_the_orm_on_every_day_around_the_cards(hub, category):
    first, second, unlisted = (EquipmentFactory(hub=hub, category=category) for _ in range(3))
    start = date(2026, 1, 1)
    old = RateCardFactory(hub=hub, valid_from=start, valid_until=start + timedelta(days=9))
    new = RateCardFactory(hub=hub, valid_from=start + timedelta(days=20))
    EquipmentRateFactory(card=old, equipment=first, hourly_rate="111.00")
    EquipmentRateFactory(card=new, equipment=first, hourly_rate="222.00")
    EquipmentRateFactory(card=new, equipment=second, hourly_rate="333.00",
                         setup_fee="12.50")
    ids = [first.pk, second.pk, unlisted.pk, first.pk]
    seen = set()
    for offset in range(-2, 30):  # before any card, on the old one, between, on the new
        day = start + timedelta(days=offset)
        ours, theirs = rates_on(hub, day, ids), orm_rates(hub, day, ids)
        assert {k: (r.pk, r.hourly_rate, r.assisted_hourly_surcharge, r.setup_fee)
                for k, r in ours.items()} == {
            k: (r.pk, r.hourly_rate, r.assisted_hourly_surcharge, r.setup_fee)
            for k, r in theirs.items()}, day
        seen.add(tuple(sorted((k, str(r.hourly_rate)) for k, r in ours.items())))
    assert seen == {(), ((first.pk, "111.00"),),
                    ((first.pk, "222.00"), (second.pk, "333.00"))}
    assert rates_on(hub, start, []) == {}


def test_rates_on_reads_only_the_hubs_card(hub, category, operator):
    from tests.factories import HubFactory

    other_hub = HubFactory(operator=operator)
    machine = EquipmentFactory(hub=hub, category=category)
    card = RateCardFactory(hub=other_hub, valid_from=date(2026, 1, 1))
    EquipmentRateFactory(card=card, equipment=machine)
    assert rates_on(hub, date(2026, 6, 1), [machine.pk]) == {}
