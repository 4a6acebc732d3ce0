"""A settlement claim's moves are announced: a submission to platform staff by e-mail; an
approval, a payment and a rejection to the provider's administrators and operators; each
move to the provider's endpoints subscribed to ``claim.*`` by webhook, once per move (a
claim rejected and submitted again is announced again). A refused move tells nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.claims import services
from core.errors import Conflict
from core.models import OutboxMessage
from organizations.models import Membership
from tests.billing.conftest import NOVEMBER, at
from tests.factories import MembershipFactory, UserFactory, WebhookEndpointFactory
from tests.fixtures.links import SITE, link_in, opens_for

pytestmark = pytest.mark.django_db
NOW = at(3, 10, month=12)


@pytest.fixture
def hook(operator):
    return WebhookEndpointFactory(organization=operator, event_types=["claim.*"])


@pytest.fixture
def submitted(operator, programme, completed, operator_user, staff_user, hook):
    MembershipFactory(organization=operator, role=Membership.Role.OPERATOR,
                      user=UserFactory(email="finance@autoworks.test"))
    claim, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER, by_user=operator_user)
    return services.submit_claim(claim_id=claim.pk, provider=operator, now=NOW)


def mails(event_type: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event_type=event_type,
                                             channel=OutboxMessage.Channel.EMAIL)
                .order_by("recipient"))


def webhook_data(event_type: str) -> list[dict]:
    return [m.payload["data"] for m in OutboxMessage.objects.filter(
        event_type=event_type, channel=OutboxMessage.Channel.WEBHOOK).order_by("pk")]


def test_a_submission_tells_staff_and_the_providers_endpoint(submitted, hook, settings):
    [mail] = mails("claim.submitted")
    assert mail.recipient == "staff@testbed.test"
    english = mail.payload["body"].split("————————")[1]
    assert "Settlement claim submitted" in mail.payload["subject"]
    assert f"SC-{submitted.pk} BJ-CXQ-2026 2026-11" in english
    assert "Provider: AutoWorks" in english and "Amount: ¥400.00" in english
    assert "admin console" in english
    assert webhook_data("claim.submitted") == [{
        "claim": submitted.pk, "programme": "BJ-CXQ-2026", "month": "2026-11", "number": 1,
        "status": "submitted", "amount": "400.00", "at": "2026-12-03T02:00:00+00:00",
        "reason": "", "payment_reference": ""}]


def test_approval_and_payment_tell_the_providers_people(submitted, staff_user):
    services.approve_claim(claim_id=submitted.pk, by_user=staff_user,
                           now=NOW + timedelta(days=5))
    services.mark_claim_paid(claim_id=submitted.pk, payment_reference="BJCZ-2026-12-0091",
                             by_user=staff_user, now=NOW + timedelta(days=9))
    people = ["admin@autoworks.test", "finance@autoworks.test"]
    assert [m.recipient for m in mails("claim.approved")] == people
    paid = mails("claim.paid")
    assert [m.recipient for m in paid] == people
    chinese, english = paid[0].payload["body"].split("————————")
    assert "Payment reference: BJCZ-2026-12-0091" in english
    assert "BJCZ-2026-12-0091" in chinese and "Payment reference" not in chinese
    assert [d["status"] for d in webhook_data("claim.approved") + webhook_data("claim.paid")] \
        == ["approved", "paid"]
    assert webhook_data("claim.paid")[0]["payment_reference"] == "BJCZ-2026-12-0091"


def test_a_rejection_names_its_reason_and_a_resubmission_is_announced_again(
        submitted, operator, staff_user):
    services.reject_claim(claim_id=submitted.pk, reason="Booking 3 lacks its evidence.",
                          by_user=staff_user, now=NOW + timedelta(days=2))
    [rejected] = webhook_data("claim.rejected")
    assert rejected["reason"] == "Booking 3 lacks its evidence."
    english = mails("claim.rejected")[0].payload["body"].split("————————")[1]
    assert "Reason: Booking 3 lacks its evidence." in english and "Reopen it" in english
    services.reopen_claim(claim_id=submitted.pk, provider=operator)
    services.submit_claim(claim_id=submitted.pk, provider=operator, now=NOW + timedelta(days=4))
    assert len(mails("claim.submitted")) == 2
    again = webhook_data("claim.submitted")
    assert [d["at"] for d in again] == ["2026-12-03T02:00:00+00:00",
                                        "2026-12-07T02:00:00+00:00"]
    assert again[1]["reason"] == ""


def test_a_refused_move_tells_nobody(submitted, staff_user):
    before = OutboxMessage.objects.count()
    with pytest.raises(Conflict):
        services.mark_claim_paid(claim_id=submitted.pk, payment_reference="X",
                                 by_user=staff_user)
    assert OutboxMessage.objects.count() == before


def test_each_mail_links_to_where_its_reader_acts(operator, programme, completed, operator_user,
                                                 staff_user, settings, client):
    """Staff: the claim in the admin (where they record the decision); the provider: its
    claim in the console."""
    settings.SITE_URL = SITE
    claim, _ = services.draft_claim(provider=operator, programme_id=programme.pk,
                                    month=NOVEMBER, by_user=operator_user)
    services.submit_claim(claim_id=claim.pk, provider=operator, now=NOW)
    services.approve_claim(claim_id=claim.pk, by_user=staff_user, now=NOW + timedelta(days=5))
    [submitted], [approved] = mails("claim.submitted"), mails("claim.approved")
    to_staff, to_provider = link_in(submitted.payload["body"]), link_in(approved.payload["body"])
    assert to_staff == f"{SITE}/admin/billing/settlementclaim/{claim.pk}/change/"
    assert to_provider == f"{SITE}/console/claims/{claim.pk}/"
    assert opens_for(client, staff_user, to_staff) == 200
    assert opens_for(client, operator_user, to_provider) == 200
