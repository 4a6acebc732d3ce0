"""Portal (SME) and console (operator) pages of service requests: they render in both
languages, post through the services, show refusals in place, and answer 404 for another
organisation's request."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import ServiceRequest
from bookings.models import Booking
from tests.factories import VoucherGrantFactory, VoucherProgrammeFactory
from tests.fixtures.world import SHANGHAI, local, make_booking

from .conftest import PDF, logged_in, offer_periods

pytestmark = pytest.mark.django_db
R = ServiceRequest.Status


def form_time(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def in_language(client, language: str) -> None:
    client.post(reverse("set_language"), {"language": language, "next": "/"})


@pytest.fixture
def sme_web(sme_user):
    return logged_in(sme_user)


@pytest.fixture
def operator_web(operator_user):
    return logged_in(operator_user)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_portal_pages_render_in_both_languages(sme_web, quoted, hub, language):
    in_language(sme_web, language)
    grant = VoucherGrantFactory(organization=quoted.organization,
                                programme=VoucherProgrammeFactory(providers=[hub]))
    pages = [reverse("billing:requests"), reverse("billing:request-new"),
             reverse("billing:request-new") + f"?hub={hub.slug}",
             reverse("billing:request-detail", args=[quoted.pk]),
             reverse("billing:request-detail", args=[quoted.pk]) + f"?grant={grant.pk}"]
    for url in pages:
        response = sme_web.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}">' in response.content.decode(), url
    detail = sme_web.get(pages[-1]).content.decode()
    assert f"SR-{quoted.pk}" in detail and "1,730.00" in detail
    # the preview: 50 % of usage, assisted and set-up lines (never the item)
    assert "840.00" in detail and "890.00" in detail


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_console_pages_render_in_both_languages(operator_web, submitted, quoted, language):
    in_language(operator_web, language)
    for url in (reverse("billing-console:requests"),
                reverse("billing-console:requests") + "?status=all",
                reverse("billing-console:request-detail", args=[submitted.pk])):
        response = operator_web.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}">' in response.content.decode()


def test_sme_submits_through_the_form(sme_web, hub, equipment, second_equipment, rate_card):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("billing:request-new") + f"?hub={hub.slug}"
    response = sme_web.post(url, {
        "title": "Bracket trial", "plan": "Rough and finish 20 brackets.",
        "equipment": [equipment.pk, second_equipment.pk],
        "preferred_start": form_time(local(5, 9)), "preferred_end": form_time(local(5, 17)),
        "attachments": [SimpleUploadedFile("plan.pdf", PDF)]})
    made = ServiceRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:request-detail", args=[made.pk])
    assert made.preferred_start == local(5, 9)  # read as the hub's wall-clock time
    assert made.attachments.count() == 1


def test_refusals_are_shown_next_to_the_fields(sme_web, hub, equipment):
    url = reverse("billing:request-new") + f"?hub={hub.slug}"
    response = sme_web.post(url, {
        "title": "Trial", "plan": "Plan", "equipment": [equipment.pk],
        "preferred_start": form_time(local(-2, 9)), "preferred_end": form_time(local(-2, 12))})
    assert response.status_code == 400
    assert "The preferred start is in the past." in response.content.decode()
    assert not ServiceRequest.objects.exists()


def test_operator_sends_an_offer_then_the_sme_accepts(operator_web, sme_web, submitted,
                                                      equipment, second_equipment):
    periods = offer_periods([equipment, second_equipment])
    data = {"note": "Staff run both.", "valid_until": form_time(local(3, 18)), "item_ti-bar": "4"}
    for pk, start, end in periods:
        data[f"start_{pk}"], data[f"end_{pk}"] = form_time(start), form_time(end)
    response = operator_web.post(reverse("billing-console:request-detail",
                                         args=[submitted.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    submitted.refresh_from_db()
    assert submitted.status == R.QUOTED and submitted.offer.total == 1730
    response = sme_web.post(reverse("billing:request-accept", args=[submitted.pk]),
                            {"shortfall": "sme_pays"})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == R.ACCEPTED and submitted.bookings.count() == 2


def test_an_offer_the_booking_rules_refuse_is_shown_and_nothing_is_booked(
        sme_web, quoted, second_equipment, other_sme):
    usage = quoted.offer.lines.get(equipment=second_equipment, kind="usage")
    make_booking(second_equipment, other_sme, usage.start, usage.end)
    response = sme_web.post(reverse("billing:request-accept", args=[quoted.pk]),
                            {"shortfall": "sme_pays"})
    assert response.status_code == 409
    assert "Robot cell could not be booked" in response.content.decode()
    assert not Booking.objects.filter(organization=quoted.organization).exists()


def test_operator_refuses_with_a_reason(operator_web, submitted):
    url = reverse("billing-console:request-refuse", args=[submitted.pk])
    assert operator_web.post(url, {"reason": ""}).status_code == 400
    assert operator_web.post(url, {"reason": "Machine down."}).status_code == 302
    submitted.refresh_from_db()
    assert (submitted.status, submitted.reason) == (R.REFUSED, "Machine down.")


def test_sme_declines_and_withdraws(sme_web, quoted, sme, hub, equipment, sme_user):
    from .conftest import submit

    sme_web.post(reverse("billing:request-decline", args=[quoted.pk]), {"reason": "Too dear"})
    quoted.refresh_from_db()
    assert quoted.status == R.DECLINED
    other = submit(sme, hub, [equipment], by_user=sme_user)
    sme_web.post(reverse("billing:request-withdraw", args=[other.pk]))
    other.refresh_from_db()
    assert other.status == R.WITHDRAWN


def test_attachments_download_for_both_sides_only(sme_web, operator_web, submitted,
                                                  other_sme_user, other_operator_user):
    from .conftest import pdf

    url = reverse("billing:request-attach", args=[submitted.pk])
    assert sme_web.post(url, {"file": pdf()}).status_code == 302
    attachment = submitted.attachments.get()
    download = reverse("billing:request-attachment", args=[submitted.pk, attachment.pk])
    for client in (sme_web, operator_web):
        response = client.get(download)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
    for stranger in (other_sme_user, other_operator_user):
        assert logged_in(stranger).get(download).status_code == 404


def test_other_organisations_get_404(submitted, other_sme_user, other_operator_user):
    sme_pages = [reverse("billing:request-detail", args=[submitted.pk])]
    posts = [reverse(f"billing:request-{name}", args=[submitted.pk])
             for name in ("accept", "decline", "withdraw", "attach")]
    stranger = logged_in(other_sme_user)
    for url in sme_pages:
        assert stranger.get(url).status_code == 404
    for url in posts:
        assert stranger.post(url, {}).status_code == 404
    operator = logged_in(other_operator_user)
    assert operator.get(reverse("billing-console:request-detail",
                                args=[submitted.pk])).status_code == 404
    assert operator.post(reverse("billing-console:request-refuse", args=[submitted.pk]),
                         {"reason": "x"}).status_code == 404
    submitted.refresh_from_db()
    assert submitted.status == R.SUBMITTED


def test_wrong_side_is_told_what_the_pages_are_for(sme_web, operator_web, submitted):
    assert sme_web.get(reverse("billing-console:requests")).status_code == 403
    assert operator_web.get(reverse("billing:requests")).status_code == 403


def test_a_refused_decline_reason_declines_nothing(sme_web, quoted):
    response = sme_web.post(reverse("billing:request-decline", args=[quoted.pk]),
                            {"reason": "x" * 10_001})
    assert response.status_code == 400
    assert "reason" in response.context["reason_form"].errors
    quoted.refresh_from_db()
    assert quoted.status == R.QUOTED
