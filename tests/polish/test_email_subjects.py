"""E-mail subjects carry "[Testbed]" once: both languages share one prefix, whether the
message's own wording adds it or not, and allauth's mails add it once too."""

from __future__ import annotations

import pytest
from django.core import mail

from bookings import services
from core.notify import bilingual, subject_line
from organizations.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures.world import local

pytestmark = pytest.mark.django_db


def test_bilingual_subjects_have_one_prefix():
    subject, _ = bilingual(lambda: (subject_line("Trial results ready", "DMU 50"), "body"))
    assert subject.startswith("[Testbed] ")
    assert subject.count("[Testbed]") == 1


def test_a_subject_without_the_prefix_gets_it_once():
    subject, _ = bilingual(lambda: ("Hello", "body"))
    assert subject == "[Testbed] Hello"


def test_booking_e_mails_have_one_prefix(equipment, sme, django_capture_on_commit_callbacks):
    user = MembershipFactory(
        organization=sme, role=Membership.Role.ADMIN, user=UserFactory(email="lead@precision.test")
    ).user
    with django_capture_on_commit_callbacks(execute=True):
        services.create_booking(
            equipment_id=equipment.pk,
            organization=sme,
            start=local(2, 9),
            end=local(2, 11),
            purpose="x",
            by_user=user,
        )
    subjects = [m.subject for m in mail.outbox]
    assert subjects, "the booking sent no e-mail"
    for subject in subjects:
        assert subject.count("[Testbed]") == 1, subject
        assert "·" in subject  # Chinese and English, one prefix in front of both


def test_allauth_mails_have_one_prefix(client):
    UserFactory(email="someone@x.test")
    client.post("/accounts/password/reset/", {"email": "someone@x.test"})
    [message] = mail.outbox
    assert message.subject.count("[Testbed]") == 1
