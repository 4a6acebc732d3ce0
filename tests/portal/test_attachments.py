"""Attachments on a booking request (issue 15, part 4): type-checked by their bytes,
size-limited, stored under MEDIA_ROOT, downloaded only as attachments, only by the SME and
the hub's operator."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bookings import services
from bookings.models import Booking, BookingAttachment
from organizations.models import Membership
from tests.factories import MembershipFactory, UserFactory

from .conftest import local, logged_in, make_booking

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
STEP = b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('bracket'),'2;1');\nENDSEC;\n"
DXF = b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def mine(equipment, sme, admin_user):
    return make_booking(
        equipment, sme, local(2, 9), local(2, 11), user=admin_user, status=Booking.Status.REQUESTED
    )


def attach(client, booking, name, content, content_type="application/octet-stream"):
    return client.post(
        reverse("bookings:attach", args=[booking.pk]),
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [("drawing.pdf", PDF), ("photo.PNG", PNG), ("fixture.step", STEP), ("plate.dxf", DXF)],
)
def test_allowed_files_are_kept_under_media_root(client_sme, mine, media, name, content):
    response = attach(client_sme, mine, name, content)
    assert response.status_code == 302
    stored = BookingAttachment.objects.get(booking=mine)
    assert (stored.name, stored.size) == (name, len(content))
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.file.path.startswith(str(media)) and name not in stored.file.name
    page = client_sme.get(reverse("bookings:detail", args=[mine.pk]))
    assert name.encode() in page.content


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("page.html", b"<script>alert(1)</script>", "text/html"),
        ("drawing.pdf", b"<script>alert(1)</script>", "application/pdf"),  # bytes are not a PDF
        ("photo.png", PDF, "image/png"),  # a PDF named .png
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream"),
        ("empty.pdf", b"", "application/pdf"),
    ],
)
def test_wrong_types_are_refused_at_the_field(client_sme, mine, name, content, content_type):
    response = attach(client_sme, mine, name, content, content_type)
    assert response.status_code == 400
    errors = response.context["attachment_form"].errors["file"]
    assert errors and ("is not accepted" in errors[0] or "empty" in errors[0])
    assert not BookingAttachment.objects.exists()


def test_oversize_is_refused(client_sme, mine, settings):
    settings.BOOKING_ATTACHMENT_MAX_BYTES = 1024
    response = attach(client_sme, mine, "big.pdf", PDF + b"x" * 2000)
    assert response.status_code == 400
    assert "too large" in response.context["attachment_form"].errors["file"][0]
    assert "1 KB" in response.context["attachment_form"].errors["file"][0]
    assert not BookingAttachment.objects.exists()


def test_the_number_of_files_is_limited(mine, sme, admin_user, settings):
    settings.BOOKING_ATTACHMENT_MAX_COUNT = 1
    upload = SimpleUploadedFile("a.pdf", PDF)
    services.attach_file(booking_id=mine.pk, organization=sme, upload=upload)
    with pytest.raises(Exception) as refused:
        services.attach_file(
            booking_id=mine.pk, organization=sme, upload=SimpleUploadedFile("b.pdf", PDF)
        )
    assert refused.value.violations[0].code == "attachment_limit"
    assert BookingAttachment.objects.count() == 1


def test_files_are_not_attached_to_closed_bookings(equipment, sme, admin_user):
    done = make_booking(
        equipment, sme, local(-2, 9), local(-2, 10), status=Booking.Status.COMPLETED
    )
    with pytest.raises(Exception) as refused:
        services.attach_file(
            booking_id=done.pk, organization=sme, upload=SimpleUploadedFile("a.pdf", PDF)
        )
    assert refused.value.code == "attachments_closed"


def test_download_is_an_attachment_for_the_sme_and_the_operator(client_sme, mine, sme, operator):
    attachment = services.attach_file(
        booking_id=mine.pk, organization=sme, upload=SimpleUploadedFile("x.pdf", PDF)
    )
    url = reverse("bookings:attachment", args=[mine.pk, attachment.pk])
    response = client_sme.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="x.pdf"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF
    ops = MembershipFactory(
        organization=operator,
        role=Membership.Role.OPERATOR,
        user=UserFactory(email="ops@autoworks.test"),
    ).user
    assert logged_in(ops).get(url).status_code == 200


def test_another_sme_or_operator_gets_404(client_other, mine, sme, other_operator):
    attachment = services.attach_file(
        booking_id=mine.pk, organization=sme, upload=SimpleUploadedFile("x.pdf", PDF)
    )
    url = reverse("bookings:attachment", args=[mine.pk, attachment.pk])
    assert client_other.get(url).status_code == 404
    stranger = MembershipFactory(
        organization=other_operator,
        role=Membership.Role.ADMIN,
        user=UserFactory(email="admin@phonetech.test"),
    ).user
    assert logged_in(stranger).get(url).status_code == 404
    assert attach(client_other, mine, "y.pdf", PDF).status_code == 404
    # The right attachment under another booking's URL is not found either.
    wrong = reverse("bookings:attachment", args=[mine.pk + 1, attachment.pk])
    assert logged_in(stranger).get(wrong).status_code == 404


def test_a_long_name_keeps_its_extension(client_sme, mine):
    response = attach(client_sme, mine, "x" * 300 + ".pdf", PDF)
    assert response.status_code == 302
    stored = mine.attachments.get()
    assert len(stored.name) == 200 and stored.name.endswith("x.pdf")
