"""Verifying or refusing an SME, from the staff queue or its page in the console: through
``organizations.services``, recorded, and e-mailed to the SME's administrators in both
languages (a person's language is not recorded)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from core.errors import Conflict, ValidationFailed
from core.models import OutboxMessage
from organizations import errors, services
from organizations.models import Organization

pytestmark = pytest.mark.django_db


def verify_url(org) -> str:
    return reverse("admin:organizations_organization_verify", args=[org.pk])


def refuse_url(org) -> str:
    return reverse("admin:organizations_organization_refuse", args=[org.pk])


def sent_to(event_type: str) -> list:
    return [m for m in mail.outbox if m.extra_headers.get("X-Testbed-Event") == event_type]


def test_verify_from_the_queue_verifies_and_emails_the_administrators(
    staff_client, staff, applicant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(verify_url(applicant), {"next": reverse("admin:index")})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    applicant.refresh_from_db()
    assert applicant.verified is True
    (email,) = sent_to("organization.verified")
    assert email.to == ["boss@newcomer.test"]  # the administrators, not every member
    assert "Newcomer Tooling" in email.subject and "Newcomer Tooling" in email.body
    # Both languages, Chinese first, from the same templates.
    context = {"organization": applicant, "reason": "", "portal_url": "http://testserver/"}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            body = render_to_string("organizations/email/verified_message.txt", context)
        assert body.strip() in email.body
    assert email.body.index("————————") > 0
    assert "http://testserver/" in email.body
    # The decision is recorded on the organisation; the queue is empty again.
    assert applicant.verified_by == staff and applicant.verified_at is not None
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "No organisation is awaiting verification." in page


def test_verified_email_has_a_chinese_part():
    """The Chinese part is Chinese (fails while the translations are missing)."""
    org = Organization(name="Newcomer Tooling")
    rendered = {}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            rendered[language] = render_to_string(
                "organizations/email/verified_message.txt", {"organization": org}
            )
    assert rendered["zh-hans"] != rendered["en"]


def test_verifying_twice_sends_one_email(staff, applicant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.verify_organization(organization=applicant, by=staff)
        services.verify_organization(organization=applicant, by=staff)
    assert len(sent_to("organization.verified")) == 1


def test_the_bulk_verify_action_emails_too(
    staff_client, applicant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:organizations_organization_changelist"),
            {"action": "mark_verified", "_selected_action": [applicant.pk]},
        )
    assert Organization.objects.get(pk=applicant.pk).verified
    assert [m.to for m in sent_to("organization.verified")] == [["boss@newcomer.test"]]


def test_the_verify_page_asks_first(staff_client, applicant):
    page = staff_client.get(verify_url(applicant))
    assert page.status_code == 200
    assert "boss@newcomer.test" in page.content.decode()
    applicant.refresh_from_db()
    assert applicant.verified is False
    assert not OutboxMessage.objects.exists()


def test_refusing_needs_a_reason_and_changes_nothing_without_one(staff_client, applicant):
    page = staff_client.get(refuse_url(applicant))
    assert page.status_code == 200 and "reason" in page.content.decode()
    response = staff_client.post(refuse_url(applicant), {"reason": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [errors.REFUSAL_REASON_REQUIRED.text()]
    applicant.refresh_from_db()
    assert (applicant.verified, applicant.suspended_at) == (False, None)
    assert applicant.verification_refused_at is None
    assert not OutboxMessage.objects.exists()


def test_refusing_records_and_emails_the_reason_and_changes_nothing_else(
    staff_client, staff, applicant, django_capture_on_commit_callbacks
):
    refusal_fields = {"verification_refused_at", "verification_refusal_reason",
                      "verification_refused_by_id"}
    before = {k: v for k, v in Organization.objects.values().get(pk=applicant.pk).items()
              if k not in refusal_fields}
    reason = "The credit code belongs to another company."
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            refuse_url(applicant), {"reason": reason, "next": reverse("admin:index")}
        )
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    after = Organization.objects.values().get(pk=applicant.pk)
    assert {k: v for k, v in after.items() if k not in refusal_fields} == before
    assert (after["verification_refusal_reason"], after["verification_refused_by_id"]) == (
        reason, staff.pk)
    assert after["verification_refused_at"] is not None
    (email,) = sent_to("organization.refused")
    assert email.to == ["boss@newcomer.test"]
    assert email.body.count(reason) == 2  # in each language's part
    # Out of the queue; the reason shows on its page, where it may still be verified.
    index = staff_client.get(reverse("admin:index"))
    verification = {q.key: q for q in index.context["staff_queues"]}["queue-verification"]
    assert (verification.count, verification.items) == (0, [])
    change = staff_client.get(
        reverse("admin:organizations_organization_change", args=[applicant.pk])
    ).content.decode()
    assert reason in change and verify_url(applicant) in change


def test_refusal_rules_in_the_service(staff, applicant, sme):
    with pytest.raises(ValidationFailed) as refused:
        services.refuse_organization(organization=applicant, reason="", by=staff)
    assert refused.value.violations[0].code == errors.REFUSAL_REASON_REQUIRED
    with pytest.raises(ValidationFailed) as refused:
        services.refuse_organization(organization=applicant, reason="x" * 501, by=staff)
    assert refused.value.violations[0].code == errors.REFUSAL_REASON_TOO_LONG
    with pytest.raises(Conflict) as refused:  # sme is verified
        services.refuse_organization(organization=sme, reason="Too late", by=staff)
    assert refused.value.code == errors.ALREADY_VERIFIED
    assert not OutboxMessage.objects.exists()
    assert not Organization.objects.filter(verification_refused_at__isnull=False).exists()


def test_refusing_a_verified_organisation_in_the_console_is_refused(staff_client, sme):
    response = staff_client.post(refuse_url(sme), {"reason": "Changed our mind"}, follow=True)
    assert response.status_code == 200
    assert errors.ALREADY_VERIFIED.text() in [str(m) for m in response.context["messages"]]
    assert not OutboxMessage.objects.exists()


def test_an_unverified_organisations_page_offers_verify_and_refuse(staff_client, applicant, sme):
    change = reverse("admin:organizations_organization_change", args=[applicant.pk])
    page = staff_client.get(change).content.decode()
    assert verify_url(applicant) in page and refuse_url(applicant) in page
    page = staff_client.get(
        reverse("admin:organizations_organization_change", args=[sme.pk])
    ).content.decode()
    assert verify_url(sme) not in page
