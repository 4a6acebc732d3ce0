"""UI review fixes of service requests: an accepted offer shows the voucher split of the
bookings it made (request page and quote pages), the accept panel has one voucher select
that keeps the shortfall choice, bookings link back to the request, and a form that comes
back with errors asks for the files again."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.requests import services
from tests.factories import VoucherGrantFactory, VoucherProgrammeFactory

from .conftest import PDF, logged_in

D = Decimal


@pytest.fixture
def sme_web(sme_user):
    return logged_in(sme_user)


@pytest.fixture
def voucher(hub, sme):
    programme = VoucherProgrammeFactory(providers=[hub], subsidy_share=D("0.5000"),
                                        valid_from=date(2020, 1, 1),
                                        valid_until=date(2035, 12, 31))
    return VoucherGrantFactory(programme=programme, organization=sme, amount=D("10000.00"),
                               valid_from=date(2020, 1, 1), valid_until=date(2035, 12, 31))


@pytest.fixture
def accepted(quoted, sme, sme_user, voucher):
    services.accept_offer(request_id=quoted.pk, organization=sme, grant_id=voucher.pk,
                          shortfall="sme_pays", by_user=sme_user)
    quoted.refresh_from_db()
    return quoted


def test_an_accepted_offer_shows_the_bookings_split(sme_web, accepted, voucher):
    voucher.refresh_from_db()
    assert voucher.used > 0
    used = f"¥{voucher.used:,.2f}"
    page = sme_web.get(reverse("billing:request-detail", args=[accepted.pk])).content.decode()
    assert "Voucher pays" in page and "You pay" in page and used in page
    for booking in accepted.bookings.all():  # each booking links to its page
        assert reverse("bookings:detail", args=[booking.pk]) in page
    offer = accepted.offer
    detail = sme_web.get(reverse("pricing:quote", args=[offer.pk])).content.decode()
    assert "Bookings made from this quote" in detail and used in detail
    listing = sme_web.get(reverse("pricing:quotes")).content.decode()
    row = listing[listing.index(f">Q-{offer.pk}<"):]
    row = row[:row.index("</tr>")]
    assert used in row


def test_the_booking_links_back_to_its_request(sme_web, accepted):
    booking = accepted.bookings.first()
    page = sme_web.get(reverse("bookings:detail", args=[booking.pk])).content.decode()
    assert reverse("billing:request-detail", args=[accepted.pk]) in page


def test_one_voucher_select_and_the_shortfall_kept_after_preview(sme_web, quoted, voucher):
    url = reverse("billing:request-detail", args=[quoted.pk])
    page = sme_web.get(url).content.decode()
    assert page.count('id="id_grant"') == 1
    assert "Pay the difference" in page and "Do not book" in page
    preview = sme_web.post(reverse("billing:request-accept", args=[quoted.pk]),
                           {"grant": voucher.pk, "shortfall": "refuse", "preview": "1"})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert html.count('id="id_grant"') == 1
    assert re.search(r'value="refuse"[^>]*checked', html)
    assert quoted.bookings.count() == 0  # a preview books nothing
    # A preview by link (no choice yet) keeps the default choice selected.
    html = sme_web.get(f"{url}?grant={voucher.pk}").content.decode()
    assert re.search(r'value="sme_pays"[^>]*checked', html)


def test_the_form_asks_for_the_files_again_after_an_error(sme_web, hub, equipment,
                                                          rate_card):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("billing:request-new") + f"?hub={hub.slug}"
    response = sme_web.post(url, {"title": "", "plan": "Mill", "equipment": [equipment.pk],
                                  "preferred_start": "2027-03-01T09:00",
                                  "preferred_end": "2027-03-01T11:00",
                                  "attachments": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 400
    assert "Attach the files again" in response.content.decode()
    assert "Attach the files again" not in sme_web.get(url).content.decode()
