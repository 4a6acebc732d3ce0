"""Hostile input to the money doors: amounts past what a quote can hold, NaN and
overflowing numbers, are a field-by-field 400 that changes nothing (never a 500)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.models import Quote
from tests.factories import PricedItemFactory
from tests.fixtures.world import local

QUOTES = "/api/v1/quotes/"


def body(equipment, **extra):
    return {"equipment": equipment.pk, "start": local(2, 9).isoformat(),
            "end": local(2, 11).isoformat(), **extra}


@pytest.mark.parametrize("quantity", ["99999999.9999", "NaN", "1e309", "-1", "0", "Infinity",
                                      "1e-9", "abc"])
def test_hostile_item_quantities_are_400(sme_client, equipment, rate, card, quantity):
    PricedItemFactory(card=card, code="gold", name="Gold bar",
                      unit_price=Decimal("999999999.00"))
    r = sme_client.post(QUOTES, body(equipment, items=[{"code": "gold", "quantity": quantity}]),
                        format="json")
    assert r.status_code == 400, (quantity, r.status_code, r.content)
    assert r["Content-Type"].startswith("application/problem+json")
    assert any(field.startswith("items") for field in r.json()["errors"]), r.json()
    assert not Quote.objects.exists()


def test_a_period_too_long_to_price_is_400(sme_client, equipment, card, rate):
    # Before the card's first day the equipment's own rate applies.
    equipment.hourly_rate = Decimal("999999.00")
    equipment.save()
    r = sme_client.post(QUOTES, {"equipment": equipment.pk, "start": "1971-01-01T00:00:00+08:00",
                                 "end": "2998-12-31T00:00:00+08:00"}, format="json")
    assert r.status_code == 400, r.content
    assert "end" in r.json()["errors"]
    assert not Quote.objects.exists()
