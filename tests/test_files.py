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


def test_an_open_file_or_a_path_is_served_the_same_way(tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    for source in (path.open("rb"), path, str(path)):
        response = file_response(source, filename="bundle.zip", content_type="application/zip",
                                 block_size=1024)
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response.block_size == 1024
        assert b"".join(response.streaming_content).startswith(b"PK")
        response.close()


def test_a_missing_path_is_not_found(tmp_path):
    with pytest.raises(Http404):
        file_response(tmp_path / "gone.zip", filename="gone.zip", content_type="application/zip")
