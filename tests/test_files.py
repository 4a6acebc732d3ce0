"""Downloads of stored files (core/files.py): a file the disk lost is "not found", never a
500; downloads are attachments, sandboxed, and the browser must not guess their type."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.http import Http404

from bookings.models import BookingAttachment
from core.files import file_response
from tests.fixtures.world import local, make_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def attachment(equipment, sme):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 10))
    found = BookingAttachment(booking=booking, name="drawing.pdf", content_type="application/pdf",
                              size=8, sha256="0" * 64)
    found.file.save("drawing.pdf", ContentFile(b"%PDF-1.7"), save=True)
    return found


def test_a_download_is_a_sandboxed_attachment(attachment):
    response = file_response(attachment.file, filename="drawing.pdf",
                             content_type="application/octet-stream")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == b"%PDF-1.7"


def test_a_file_the_disk_lost_is_not_found(attachment):
    attachment.file.storage.delete(attachment.file.name)
    with pytest.raises(Http404):
        file_response(attachment.file, filename="drawing.pdf", content_type="application/pdf")


def test_the_portal_answers_404_for_a_lost_attachment(attachment, sme):
    from organizations.models import Membership
    from tests.factories import MembershipFactory
    from tests.portal.conftest import logged_in

    user = MembershipFactory(organization=sme, role=Membership.Role.ADMIN).user
    attachment.file.storage.delete(attachment.file.name)
    response = logged_in(user).get(
        f"/bookings/{attachment.booking_id}/attachments/{attachment.pk}/")
    assert response.status_code == 404
