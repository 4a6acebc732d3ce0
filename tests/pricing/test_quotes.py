"""Pricing from the rate card, estimates and offers, and bookings priced with lines."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services as bookings
from bookings.models import Booking
from bookings.policy import price_quote
from core.errors import Forbidden, ValidationFailed
from pricing import services
from pricing.models import Quote, QuoteLine
from tests.factories import EquipmentRateFactory, PricedItemFactory, RateCardFactory
from tests.fixtures.world import local, make_equipment

D = Decimal
K = QuoteLine.Kind


def kinds_and_amounts(lines):
    return [(line.kind, line.amount) for line in lines]


def test_lines_from_the_rate_card(hub, equipment, rate, item):
    lines = services.quote_lines(hub=hub, organization=None,
                                 periods=[(equipment, local(2, 9), local(2, 11, 30))],
                                 assisted=True, items=[("ti-blank", D("3"))])
    assert kinds_and_amounts(lines) == [
        (K.USAGE, D("1000.00")), (K.ASSISTED, D("250.00")), (K.SETUP, D("200.00")),
        (K.ITEM, D("106.50"))]
    assert [line.position for line in lines] == [1, 2, 3, 4]
    assert lines[0].quantity == D("2.5000") and lines[0].unit_price == D("400.00")
    assert all(line.voucher_share == 0 and line.sme_share == line.amount for line in lines)


def test_no_card_prices_at_the_equipment_rate_without_fees(hub, equipment):
    lines = services.quote_lines(hub=hub, organization=None,
                                 periods=[(equipment, local(2, 9), local(2, 11))],
                                 assisted=True)
    assert kinds_and_amounts(lines) == [(K.USAGE, D("800.00"))]


def test_equipment_not_on_the_card_has_its_own_rate(hub, category, card, rate):
    other = make_equipment(hub, category, "lathe", hourly_rate=D("123.45"))
    lines = services.quote_lines(hub=hub, organization=None,
                                 periods=[(other, local(2, 9), local(2, 10))], assisted=True)
    assert kinds_and_amounts(lines) == [(K.USAGE, D("123.45"))]


def test_the_card_valid_on_the_first_day_applies(hub, equipment, card, rate):
    start = local(2, 9)
    later = RateCardFactory(hub=hub, valid_from=start.date() + timedelta(days=1))
    EquipmentRateFactory(card=later, equipment=equipment, hourly_rate=D("999.00"),
                         setup_fee=D("0"))
    today = services.quote_lines(hub=hub, organization=None,
                                 periods=[(equipment, start, start + timedelta(hours=1))])
    tomorrow = services.quote_lines(
        hub=hub, organization=None,
        periods=[(equipment, start + timedelta(days=1), start + timedelta(days=1, hours=1))])
    assert kinds_and_amounts(today) == [(K.USAGE, D("400.00")), (K.SETUP, D("200.00"))]
    assert kinds_and_amounts(tomorrow) == [(K.USAGE, D("999.00"))]


def test_an_ended_card_no_longer_applies(hub, equipment):
    old = RateCardFactory(hub=hub, valid_from=date(2020, 1, 1), valid_until=date(2021, 1, 1))
    EquipmentRateFactory(card=old, equipment=equipment, hourly_rate=D("1.00"))
    lines = services.quote_lines(hub=hub, organization=None,
                                 periods=[(equipment, local(2, 9), local(2, 10))])
    assert kinds_and_amounts(lines) == [(K.USAGE, D("400.00"))]


def test_rounding_once_per_line_half_up(hub, category):
    odd = make_equipment(hub, category, "odd", slot_granularity=10, min_duration=10,
                         hourly_rate=D("100.01"))
    lines = services.quote_lines(hub=hub, organization=None,
                                 periods=[(odd, local(2, 9), local(2, 9, 10))])
    # 1/6 h × 100.01 = 16.668333… → 16.67
    assert lines[0].amount == D("16.67") and lines[0].quantity == D("0.1667")


def test_setup_fee_once_per_equipment(hub, equipment, rate):
    lines = services.quote_lines(hub=hub, organization=None, periods=[
        (equipment, local(2, 9), local(2, 10)), (equipment, local(3, 9), local(3, 10))])
    assert [line.kind for line in lines] == [K.USAGE, K.SETUP, K.USAGE]
    none = services.quote_lines(hub=hub, organization=None, include_setup=False,
                                periods=[(equipment, local(2, 9), local(2, 10))])
    assert [line.kind for line in none] == [K.USAGE]


def test_items_must_be_on_the_card_with_a_positive_quantity(hub, equipment, rate, item):
    other_card_item = PricedItemFactory(code="elsewhere")
    with pytest.raises(ValidationFailed) as caught:
        services.quote_lines(hub=hub, organization=None,
                             periods=[(equipment, local(2, 9), local(2, 10))],
                             items=[("nope", 1), ("ti-blank", 0), (other_card_item, 1)])
    assert [(v.code, v.field) for v in caught.value.violations] == [
        ("item_not_on_rate_card", "items"), ("item_quantity", "items"),
        ("item_not_on_rate_card", "items")]


def test_policy_price_quote_is_the_pricing_rule(equipment, rate):
    assert price_quote(equipment, local(2, 9), local(2, 11)) == D("1000.00")


def test_estimate_is_open_for_the_validity_and_reserves_nothing(sme, equipment, rate, grant,
                                                              settings):
    settings.QUOTE_VALIDITY_DAYS = 7
    now = timezone.now()
    quote = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                     start=local(2, 9), end=local(2, 11), grant_id=grant.pk,
                                     now=now)
    assert (quote.kind, quote.status, quote.valid_until) == (
        Quote.Kind.ESTIMATE, Quote.Status.OPEN, now + timedelta(days=7))
    assert (quote.total, quote.voucher_total, quote.sme_total) == (
        D("1000.00"), D("500.00"), D("500.00"))
    grant.refresh_from_db()
    assert grant.used == 0


def test_estimate_only_for_smes(operator, equipment):
    with pytest.raises(Forbidden):
        services.create_estimate(organization=operator, equipment_id=equipment.pk,
                                 start=local(2, 9), end=local(2, 11))


def test_estimate_validates_period_and_equipment(sme, equipment):
    with pytest.raises(ValidationFailed) as caught:
        services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                 start=local(2, 11), end=local(2, 9))
    assert caught.value.violations[0].code == "end_before_start"
    with pytest.raises(ValidationFailed) as caught:
        services.create_estimate(organization=sme, equipment_id=10**6, start=local(2, 9),
                                 end=local(2, 11))
    assert caught.value.violations[0].code == "equipment_not_found"
    assert not Quote.objects.exists()


def test_offer_has_no_split(hub, sme, equipment, rate, item):
    offer = services.create_offer(hub=hub, organization=sme,
                                  periods=[(equipment, local(2, 9), local(2, 11))],
                                  items=[("ti-blank", 2)], note="Two blanks",
                                  valid_until=local(10, 0))
    assert (offer.kind, offer.status, offer.voucher_total) == (
        Quote.Kind.OFFER, Quote.Status.OPEN, 0)
    assert offer.total == D("800.00") + D("200.00") + D("200.00") + D("71.00")


def booking_of(sme, equipment, **kwargs):
    return bookings.create_booking(equipment_id=equipment.pk, organization=sme,
                                   start=kwargs.pop("start", local(2, 9)),
                                   end=kwargs.pop("end", local(2, 11)), purpose="Trial",
                                   **kwargs)


def test_a_booking_keeps_its_lines_and_its_price_is_their_total(sme, equipment, rate):
    booking = booking_of(sme, equipment, assisted=True)
    quote = booking.quote
    assert (quote.kind, quote.status, quote.organization_id) == (
        Quote.Kind.BOOKING, Quote.Status.BOOKED, sme.pk)
    assert booking.price == quote.total == D("800.00") + D("200.00") + D("200.00")
    assert list(quote.lines.values_list("kind", flat=True)) == [K.USAGE, K.ASSISTED, K.SETUP]


def test_a_booking_from_an_open_estimate_honours_its_prices(sme, equipment, rate, item):
    estimate = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                        start=local(2, 9), end=local(2, 11),
                                        items=[("ti-blank", 2)])
    rate.hourly_rate = D("999.00")
    rate.save()
    booking = booking_of(sme, equipment, quote_id=estimate.pk)
    assert booking.price == estimate.total == D("1071.00")
    assert booking.quote.origin_id == estimate.pk
    estimate.refresh_from_db()
    assert estimate.status == Quote.Status.ACCEPTED


def test_an_expired_or_mismatched_estimate_is_priced_anew(sme, equipment, rate):
    estimate = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                        start=local(2, 9), end=local(2, 11))
    rate.hourly_rate = D("500.00")
    rate.save()
    other_period = booking_of(sme, equipment, quote_id=estimate.pk, start=local(3, 9),
                              end=local(3, 11))
    assert other_period.price == D("1200.00")
    Quote.objects.filter(pk=estimate.pk).update(valid_until=timezone.now() - timedelta(1))
    expired = booking_of(sme, equipment, quote_id=estimate.pk)
    assert expired.price == D("1200.00")


def test_another_smes_estimate_is_unknown(sme, other_sme, equipment, rate):
    estimate = services.create_estimate(organization=other_sme, equipment_id=equipment.pk,
                                        start=local(2, 9), end=local(2, 11))
    with pytest.raises(ValidationFailed) as caught:
        booking_of(sme, equipment, quote_id=estimate.pk)
    assert (caught.value.violations[0].code, caught.value.violations[0].field) == (
        "quote_unknown", "quote")
    assert not Booking.objects.exists()


def test_origin_lines_are_copied(hub, sme, equipment, rate, item):
    offer = services.create_offer(hub=hub, organization=sme,
                                  periods=[(equipment, local(2, 9), local(2, 11))],
                                  items=[("ti-blank", 1)], valid_until=local(10, 0))
    booking = booking_of(sme, equipment, origin_lines=list(offer.lines.all()), assisted=True)
    assert booking.price == offer.total
    assert booking.quote.origin_id == offer.pk


def test_reschedule_releases_and_prices_anew(sme, equipment, rate, grant):
    booking = booking_of(sme, equipment, grant_id=grant.pk)
    old = booking.quote
    moved = bookings.reschedule_booking(booking_id=booking.pk, organization=sme,
                                        start=local(3, 9), end=local(3, 12))
    old.refresh_from_db()
    grant.refresh_from_db()
    assert old.status == Quote.Status.RELEASED
    assert moved.quote_id != old.pk and moved.quote.grant_id == grant.pk
    assert moved.price == moved.quote.total == D("1400.00")
    assert grant.used == moved.quote.voucher_total == D("700.00")


def test_a_booking_from_the_hubs_offer_keeps_the_offers_prices_when_moved(
        hub, sme, equipment, rate, item, grant):
    offer = services.create_offer(hub=hub, organization=sme,
                                  periods=[(equipment, local(2, 9), local(2, 11))],
                                  items=[("ti-blank", 2)], valid_until=local(10, 0))
    booking = booking_of(sme, equipment, origin_lines=list(offer.lines.all()), assisted=True,
                         grant_id=grant.pk)
    rate.hourly_rate, rate.assisted_hourly_surcharge, rate.setup_fee = (
        D("900.00"), D("300.00"), D("500.00"))
    rate.save()
    item.unit_price = D("99.00")
    item.save()
    moved = bookings.reschedule_booking(booking_id=booking.pk, organization=sme,
                                        start=local(3, 13), end=local(3, 16))
    lines = list(moved.quote.lines.all())
    assert [(line.kind, line.quantity, line.unit_price, line.amount) for line in lines] == [
        (K.USAGE, D("3.0000"), D("400.00"), D("1200.00")),
        (K.ASSISTED, D("3.0000"), D("100.00"), D("300.00")),
        (K.SETUP, D("1.0000"), D("200.00"), D("200.00")),
        (K.ITEM, D("2.0000"), D("35.50"), D("71.00"))]
    assert [(line.start, line.end) for line in lines[:3]] == [(local(3, 13), local(3, 16))] * 3
    assert moved.price == moved.quote.total == D("1771.00")
    assert moved.quote.origin_id == offer.pk and moved.quote.assisted
    grant.refresh_from_db()
    assert moved.quote.grant_id == grant.pk and grant.used == moved.quote.voucher_total > 0

    # Moved again: still the offer's prices (not the card's), for the new length.
    again = bookings.reschedule_booking(booking_id=booking.pk, organization=sme,
                                        start=local(4, 9), end=local(4, 10))
    assert kinds_and_amounts(again.quote.lines.all()) == [
        (K.USAGE, D("400.00")), (K.ASSISTED, D("100.00")), (K.SETUP, D("200.00")),
        (K.ITEM, D("71.00"))]


def test_a_rate_card_booking_is_priced_on_the_card_of_its_new_day(sme, equipment, rate):
    booking = booking_of(sme, equipment)
    rate.hourly_rate = D("900.00")
    rate.save()
    moved = bookings.reschedule_booking(booking_id=booking.pk, organization=sme,
                                        start=local(3, 9), end=local(3, 10))
    assert kinds_and_amounts(moved.quote.lines.all()) == [
        (K.USAGE, D("900.00")), (K.SETUP, D("200.00"))]


def test_expire_quotes(sme, equipment):
    estimate = services.create_estimate(organization=sme, equipment_id=equipment.pk,
                                        start=local(2, 9), end=local(2, 11))
    assert services.expire_quotes(now=timezone.now()) == 0
    assert services.expire_quotes(now=estimate.valid_until) == 1
    estimate.refresh_from_db()
    assert estimate.status == Quote.Status.EXPIRED
