"""Service requests: every rule of billing.requests.services (submit, attach, offer, refuse,
withdraw, decline, accept all or nothing, expiry)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import ServiceRequest, ServiceRequestAttachment
from billing.requests import errors, services, tasks
from bookings.models import Booking
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.models import OutboxMessage
from equipment.models import Equipment
from pricing.models import Quote, QuoteLine
from tests.factories import (
    EquipmentFactory,
    HubFactory,
    VoucherGrantFactory,
    VoucherProgrammeFactory,
)
from tests.fixtures.links import SITE, link_in, opens_for
from tests.fixtures.world import local, make_booking, make_equipment

from .conftest import offer_periods, pdf, quote, submit

pytestmark = pytest.mark.django_db
R = ServiceRequest.Status


def codes(exc) -> set[str]:
    return {v.code for v in exc.value.violations}


def mails(event: str) -> list[str]:
    return sorted(OutboxMessage.objects.filter(event_type=f"service_request.{event}")
                  .values_list("recipient", flat=True))


# --- submitting ---------------------------------------------------------------------------


def test_submit_stores_the_request_and_tells_the_operator(
        sme, hub, equipment, second_equipment, sme_user, operator_user):
    made = submit(sme, hub, [equipment, second_equipment], by_user=sme_user,
                  uploads=[pdf()])
    assert made.status == R.SUBMITTED
    assert set(made.equipment.values_list("pk", flat=True)) == {equipment.pk,
                                                              second_equipment.pk}
    assert made.requested_by == sme_user
    attachment = made.attachments.get()
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "plan.pdf", "application/pdf", len(pdf().read()))
    assert mails("submitted") == ["floor@autoworks.test"]


def test_submit_reports_every_broken_rule_at_once(sme, hub, equipment, other_operator):
    elsewhere = EquipmentFactory(hub=HubFactory(operator=other_operator))
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, [equipment, elsewhere], title="", plan=" ",
               preferred_start=local(-1, 9), preferred_end=local(-1, 12))
    assert codes(exc) == {errors.TITLE_REQUIRED, errors.PLAN_REQUIRED,
                          errors.EQUIPMENT_NOT_AT_HUB, errors.START_IN_PAST}
    assert not ServiceRequest.objects.exists()


def test_submit_wants_one_to_five_pieces_none_retired(sme, hub, category, equipment):
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, [])
    assert codes(exc) == {errors.EQUIPMENT_COUNT}
    six = [make_equipment(hub, category, f"m-{n}") for n in range(6)]
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, six)
    assert codes(exc) == {errors.EQUIPMENT_COUNT}
    Equipment.objects.filter(pk=equipment.pk).update(status=Equipment.Status.RETIRED)
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, [equipment])
    assert codes(exc) == {errors.EQUIPMENT_NOT_AT_HUB}
    assert submit(sme, hub, six[:5]).equipment.count() == 5


def test_submit_unknown_hub_and_bad_period(sme, equipment):
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, equipment.hub, [equipment], hub_slug="nowhere")
    assert codes(exc) == {errors.HUB_UNKNOWN}
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, equipment.hub, [equipment], preferred_end=local(5, 8))
    assert codes(exc) == {"end_before_start"}
    naive = local(5, 9).replace(tzinfo=None)
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, equipment.hub, [equipment], preferred_start=naive)
    assert codes(exc) == {"naive_datetime"}


def test_submit_by_hub_id(sme, hub, equipment):
    made = submit(sme, hub, [equipment], hub_slug=None, hub_id=hub.pk)
    assert made.hub == hub


def test_only_smes_submit(operator, hub, equipment):
    with pytest.raises(Forbidden):
        submit(operator, hub, [equipment])


def test_a_bad_file_refuses_the_whole_request(sme, hub, equipment):
    fake = SimpleUploadedFile("plan.pdf", b"MZ\x90\x00 not a pdf")
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, [equipment], uploads=[pdf(), fake])
    assert codes(exc) == {"attachment_type"}
    assert not ServiceRequest.objects.exists()
    assert not ServiceRequestAttachment.objects.exists()


def test_too_many_files(sme, hub, equipment, settings):
    settings.BOOKING_ATTACHMENT_MAX_COUNT = 1
    with pytest.raises(ValidationFailed) as exc:
        submit(sme, hub, [equipment], uploads=[pdf("a.pdf"), pdf("b.pdf")])
    assert codes(exc) == {errors.REQUEST_ATTACHMENT_LIMIT}


# --- attaching later ----------------------------------------------------------------------


def test_attach_file_owner_only_while_open(submitted, sme, other_sme, operator, settings):
    added = services.attach_file(request_id=submitted.pk, organization=sme, upload=pdf("b.pdf"))
    assert added.request == submitted
    with pytest.raises(Forbidden):
        services.attach_file(request_id=submitted.pk, organization=operator, upload=pdf())
    with pytest.raises(NotFound):
        services.attach_file(request_id=submitted.pk, organization=other_sme, upload=pdf())
    settings.BOOKING_ATTACHMENT_MAX_COUNT = 1
    with pytest.raises(ValidationFailed) as exc:
        services.attach_file(request_id=submitted.pk, organization=sme, upload=pdf("c.pdf"))
    assert codes(exc) == {errors.REQUEST_ATTACHMENT_LIMIT}
    services.withdraw_request(request_id=submitted.pk, organization=sme)
    with pytest.raises(Conflict) as closed:
        services.attach_file(request_id=submitted.pk, organization=sme, upload=pdf())
    assert closed.value.code == errors.REQUEST_ATTACHMENTS_CLOSED


# --- the offer ----------------------------------------------------------------------------


def test_offer_prices_every_piece_assisted_and_tells_the_sme(
        quoted, equipment, second_equipment, sme_user):
    assert quoted.status == R.QUOTED
    offer = quoted.offer
    assert (offer.kind, offer.status, offer.assisted) == (Quote.Kind.OFFER, Quote.Status.OPEN,
                                                          True)
    lines = [(li.kind, li.equipment_id, li.amount) for li in offer.lines.order_by("position")]
    K = QuoteLine.Kind
    assert lines == [
        (K.USAGE, equipment.pk, Decimal("800.00")),
        (K.ASSISTED, equipment.pk, Decimal("200.00")),
        (K.SETUP, equipment.pk, Decimal("80.00")),
        (K.USAGE, second_equipment.pk, Decimal("600.00")),
        (K.ITEM, None, Decimal("50.00")),
    ]
    assert offer.total == Decimal("1730.00")
    assert mails("quoted") == [sme_user.email]


def test_offer_needs_one_period_per_requested_piece(submitted, operator, equipment,
                                                    second_equipment, hub, category):
    stranger = make_equipment(hub, category, "laser-1")
    periods = offer_periods([equipment, stranger, stranger])
    with pytest.raises(ValidationFailed) as exc:
        quote(submitted, operator, periods=periods)
    assert codes(exc) == {errors.PERIOD_NOT_REQUESTED, errors.PERIOD_MISSING}
    submitted.refresh_from_db()
    assert (submitted.status, submitted.offer) == (R.SUBMITTED, None)


def test_offer_periods_and_validity_in_the_future(submitted, operator, equipment,
                                                  second_equipment):
    past = offer_periods([equipment, second_equipment], days=-1)
    with pytest.raises(ValidationFailed) as exc:
        quote(submitted, operator, periods=past, valid_days=-1)
    assert codes(exc) == {errors.PERIOD_IN_PAST, errors.VALID_UNTIL_PAST}


def test_offer_item_not_on_the_card_changes_nothing(submitted, operator):
    with pytest.raises(ValidationFailed) as exc:
        quote(submitted, operator, items=[("gold-bar", 1)])
    assert codes(exc) == {"item_not_on_rate_card"}
    submitted.refresh_from_db()
    assert submitted.status == R.SUBMITTED
    assert not Quote.objects.exists()


def test_offer_by_whom(submitted, sme, other_operator, other_sme):
    with pytest.raises(NotFound):
        quote(submitted, other_operator)
    with pytest.raises(NotFound):
        quote(submitted, other_sme)
    with pytest.raises(Forbidden):
        quote(submitted, sme)


def test_only_a_submitted_request_gets_an_offer(quoted, operator):
    with pytest.raises(Conflict) as exc:
        quote(quoted, operator)
    assert exc.value.code == errors.NOT_SUBMITTED
    assert Quote.objects.filter(kind=Quote.Kind.OFFER).count() == 1


# --- refusing, withdrawing, declining -----------------------------------------------------


def test_refuse_needs_a_reason_and_tells_the_sme(quoted, operator, sme, sme_user):
    with pytest.raises(ValidationFailed) as exc:
        services.refuse_request(request_id=quoted.pk, operator=operator, reason="  ")
    assert codes(exc) == {errors.REASON_REQUIRED}
    with pytest.raises(Forbidden):
        services.refuse_request(request_id=quoted.pk, operator=sme, reason="No")
    done = services.refuse_request(request_id=quoted.pk, operator=operator,
                                   reason="The robot cell is down for a month.")
    assert (done.status, done.reason) == (R.REFUSED, "The robot cell is down for a month.")
    assert Quote.objects.get(pk=quoted.offer_id).status == Quote.Status.EXPIRED
    assert mails("refused") == [sme_user.email]
    with pytest.raises(Conflict):
        services.refuse_request(request_id=quoted.pk, operator=operator, reason="Again")


def test_withdraw_by_the_sme_only(submitted, sme, operator, other_sme, operator_user):
    with pytest.raises(Forbidden):
        services.withdraw_request(request_id=submitted.pk, organization=operator)
    with pytest.raises(NotFound):
        services.withdraw_request(request_id=submitted.pk, organization=other_sme)
    done = services.withdraw_request(request_id=submitted.pk, organization=sme)
    assert done.status == R.WITHDRAWN
    assert mails("withdrawn") == [operator_user.email]


def test_decline_needs_an_open_offer(submitted, sme, operator):
    with pytest.raises(Conflict) as exc:
        services.decline_offer(request_id=submitted.pk, organization=sme)
    assert exc.value.code == errors.NO_OPEN_OFFER
    quote(submitted, operator)
    done = services.decline_offer(request_id=submitted.pk, organization=sme,
                                  reason="Too dear")
    assert (done.status, done.reason) == (R.DECLINED, "Too dear")
    assert Quote.objects.get(pk=done.offer_id).status == Quote.Status.DECLINED


# --- accepting: all or nothing ------------------------------------------------------------


def test_accept_books_every_piece_at_the_offers_prices(quoted, sme, sme_user, equipment,
                                                       second_equipment, operator_user):
    bookings = services.accept_offer(request_id=quoted.pk, organization=sme, by_user=sme_user)
    assert [b.equipment_id for b in bookings] == [equipment.pk, second_equipment.pk]
    quoted.refresh_from_db()
    assert quoted.status == R.ACCEPTED
    assert set(quoted.bookings.values_list("pk", flat=True)) == {b.pk for b in bookings}
    assert Quote.objects.get(pk=quoted.offer_id).status == Quote.Status.ACCEPTED
    first, second = (Booking.objects.select_related("quote").get(pk=b.pk) for b in bookings)
    assert [li.kind for li in first.quote.lines.order_by("position")] == [
        "usage", "assisted", "setup", "item"]
    assert first.quote.total == first.price == Decimal("1130.00")
    assert second.quote.total == second.price == Decimal("600.00")
    assert first.purpose.startswith(f"SR-{quoted.pk} Bracket trial")
    assert mails("accepted") == [operator_user.email]


def test_accept_second_piece_taken_books_nothing_and_keeps_the_offer_open(
        quoted, sme, other_sme, second_equipment):
    period = quoted.offer.lines.filter(equipment=second_equipment, kind="usage").get()
    make_booking(second_equipment, other_sme, period.start, period.end)
    before = Booking.objects.count()
    with pytest.raises(Conflict) as exc:
        services.accept_offer(request_id=quoted.pk, organization=sme)
    assert exc.value.code == errors.OFFER_NOT_BOOKABLE
    assert exc.value.extra["equipment"] == second_equipment.pk
    assert exc.value.extra["refusal"]["code"] == "slot_taken"
    assert second_equipment.name in exc.value.message
    assert Booking.objects.count() == before
    assert not Quote.objects.filter(kind=Quote.Kind.BOOKING).exists()
    quoted.refresh_from_db()
    assert quoted.status == R.QUOTED
    assert Quote.objects.get(pk=quoted.offer_id).status == Quote.Status.OPEN


def test_accept_a_broken_booking_rule_names_the_piece(quoted, sme, equipment):
    Equipment.objects.filter(pk=equipment.pk).update(status=Equipment.Status.DOWN)
    with pytest.raises(Conflict) as exc:
        services.accept_offer(request_id=quoted.pk, organization=sme)
    assert exc.value.extra["equipment"] == equipment.pk
    assert exc.value.extra["refusal"]["code"] == "equipment_unavailable"
    assert not Booking.objects.exists()


def test_accept_with_someone_elses_grant_is_an_input_error(quoted, sme, other_sme, hub):
    grant = VoucherGrantFactory(organization=other_sme,
                                programme=VoucherProgrammeFactory(providers=[hub]))
    with pytest.raises(ValidationFailed) as exc:
        services.accept_offer(request_id=quoted.pk, organization=sme, grant_id=grant.pk)
    assert codes(exc) == {"voucher_grant_unknown"}
    assert not Booking.objects.exists()


def test_accept_with_a_grant_splits_the_booking_quotes(quoted, sme, hub):
    grant = VoucherGrantFactory(organization=sme,
                                programme=VoucherProgrammeFactory(providers=[hub]))
    bookings = services.accept_offer(request_id=quoted.pk, organization=sme,
                                     grant_id=grant.pk)
    grant.refresh_from_db()
    quotes = [Booking.objects.get(pk=b.pk).quote for b in bookings]
    # 50 %: usage, assisted and set-up lines; never the item.
    assert [q.voucher_total for q in quotes] == [Decimal("540.00"), Decimal("300.00")]
    assert grant.used == Decimal("840.00")


def test_accept_by_whom_and_when(quoted, submitted, operator, other_sme, sme):
    with pytest.raises(Forbidden):
        services.accept_offer(request_id=quoted.pk, organization=operator)
    with pytest.raises(NotFound):
        services.accept_offer(request_id=quoted.pk, organization=other_sme)
    later = quoted.offer.valid_until + timedelta(minutes=1)
    with pytest.raises(Conflict) as exc:
        services.accept_offer(request_id=quoted.pk, organization=sme, now=later)
    assert exc.value.code == errors.OFFER_EXPIRED
    services.accept_offer(request_id=quoted.pk, organization=sme)
    with pytest.raises(Conflict) as again:
        services.accept_offer(request_id=quoted.pk, organization=sme)
    assert again.value.code == errors.NO_OPEN_OFFER
    assert Booking.objects.count() == 2


# --- expiry -------------------------------------------------------------------------------


def test_expiry_closes_stale_offers_and_unanswered_requests(
        quoted, sme, hub, equipment, sme_user):
    unanswered = submit(sme, hub, [equipment], by_user=sme_user, days=1)
    now = unanswered.preferred_end - timedelta(minutes=1)
    assert services.expire_requests(now=now) == 0
    assert unanswered.preferred_end < quoted.offer.valid_until
    now = max(quoted.offer.valid_until, unanswered.preferred_end) + timedelta(minutes=1)
    assert services.expire_requests(now=now) == 2
    assert services.expire_requests(now=now) == 0  # idempotent
    quoted.refresh_from_db()
    unanswered.refresh_from_db()
    assert (quoted.status, unanswered.status) == (R.EXPIRED, R.EXPIRED)
    assert Quote.objects.get(pk=quoted.offer_id).status == Quote.Status.EXPIRED
    assert mails("expired") == [sme_user.email] * 2


def test_expiry_task_runs_twice_harmlessly(quoted):
    offer = quoted.offer
    Quote.objects.filter(pk=offer.pk).update(valid_until=timezone.now() - timedelta(hours=1))
    assert tasks.expire_service_requests.apply().result == 1
    assert tasks.expire_service_requests.apply().result == 0
    quoted.refresh_from_db()
    assert quoted.status == R.EXPIRED


def test_each_mail_links_to_the_request_on_its_readers_side(
        sme, hub, equipment, second_equipment, rate_card, sme_user, operator, operator_user,
        settings, client):
    settings.SITE_URL = SITE
    made = submit(sme, hub, [equipment, second_equipment], by_user=sme_user)
    quote(made, operator, by_user=operator_user)

    def link_of(event: str) -> str:
        [message] = OutboxMessage.objects.filter(event_type=f"service_request.{event}")
        return link_in(message.payload["body"])

    assert link_of("submitted") == f"{SITE}/console/service-requests/{made.pk}/"
    assert link_of("quoted") == f"{SITE}/service-requests/{made.pk}/"
    assert opens_for(client, operator_user, link_of("submitted")) == 200
    assert opens_for(client, sme_user, link_of("quoted")) == 200
