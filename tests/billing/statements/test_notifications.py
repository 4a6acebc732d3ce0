"""Issuing a statement tells the firm's administrators by e-mail (both languages, once)
and the operator's endpoints subscribed to ``statement.issued`` by webhook, in the
issuing transaction: a second run, or a run that issues nothing, tells nobody."""

from __future__ import annotations

from datetime import date

import pytest

from billing.statements import services
from core import events
from core.models import OutboxMessage
from organizations.models import Membership
from tests.billing.conftest import NOVEMBER, S, at, priced
from tests.factories import MembershipFactory, UserFactory, WebhookEndpointFactory
from tests.fixtures.links import SITE, link_in, opens_for

pytestmark = pytest.mark.django_db
NOW = at(1, 9, month=12)


@pytest.fixture
def sme_admins(sme):
    for email, role in (("boss@precision.test", Membership.Role.ADMIN),
                        ("cfo@precision.test", Membership.Role.ADMIN),
                        ("engineer@precision.test", Membership.Role.MEMBER)):
        MembershipFactory(organization=sme, role=role, user=UserFactory(email=email))


def test_the_firms_admins_are_mailed_once_in_both_languages(equipment, sme, other_sme,
                                                            grant, sme_admins):
    operator = equipment.hub.operator
    priced(equipment, sme, at(3), grant=grant, voucher="400.00")
    priced(equipment, sme, at(4), status=S.NO_SHOW)
    priced(equipment, other_sme, at(5))  # Green Motor has no administrator with an e-mail
    issued = services.issue_statements(operator=operator, month=date(2026, 11, 17), now=NOW)
    mine = next(s for s in issued if s.organization == sme)
    mails = OutboxMessage.objects.filter(event_type="statement.issued",
                                         channel=OutboxMessage.Channel.EMAIL)
    assert sorted(m.recipient for m in mails) == ["boss@precision.test", "cfo@precision.test"]
    subject, body = mails[0].payload["subject"], mails[0].payload["body"]
    assert subject.startswith("[Testbed] ") and subject.count("[Testbed]") == 1
    assert mine.code in subject and "Nov 2026" in subject and "2026年11月" in subject
    chinese, english = body.split("————————")
    assert "Total: ¥1,600.00" in english and "Voucher share: ¥400.00" in english
    assert "Your share: ¥1,200.00" in english and "Lines: 2" in english
    assert "Hub operator: AutoWorks" in english and "not a tax invoice (fapiao)" in english
    assert "¥1,600.00" in chinese and "发票" in chinese and "Total" not in chinese

    # A second run issues nothing and tells nobody again.
    assert services.issue_statements(operator=operator, month=NOVEMBER, now=NOW) == []
    assert OutboxMessage.objects.filter(event_type="statement.issued").count() == 2


def test_the_operators_subscribed_endpoints_get_the_webhook(equipment, sme, other_sme,
                                                           other_operator):
    operator = equipment.hub.operator
    subscribed = WebhookEndpointFactory(organization=operator, event_types=["statement.*"])
    WebhookEndpointFactory(organization=operator, event_types=["booking.*"])
    WebhookEndpointFactory(organization=other_operator, event_types=["*"])
    priced(equipment, sme, at(3))
    priced(equipment, other_sme, at(5), hours=1)
    issued = services.issue_statements(operator=operator, month=NOVEMBER, now=NOW)
    hooks = OutboxMessage.objects.filter(channel=OutboxMessage.Channel.WEBHOOK)
    assert {h.endpoint_id for h in hooks} == {subscribed.pk} and len(hooks) == 2
    data = {h.payload["data"]["organization"]: h.payload["data"] for h in hooks}
    green = next(s for s in issued if s.organization == other_sme)
    assert data[other_sme.slug] == {
        "statement": green.pk, "code": green.code, "organization": other_sme.slug,
        "month": "2026-11", "total": "400.00", "voucher_total": "0.00",
        "sme_total": "400.00", "lines": 1, "issued_at": "2026-12-01T01:00:00+00:00"}
    assert data[sme.slug]["total"] == "800.00"
    assert all(h.event_type == "statement.issued" for h in hooks)


def test_nothing_to_state_tells_nobody(equipment, sme, sme_admins):
    WebhookEndpointFactory(organization=equipment.hub.operator, event_types=["*"])
    assert services.issue_statements(operator=equipment.hub.operator, month=NOVEMBER,
                                     now=NOW) == []
    assert not OutboxMessage.objects.exists()


def test_the_event_type_is_listed_for_subscriptions():
    assert "statement.issued" in events.event_types()
    assert events.unmatched(["statement.*", "claim.*"]) == []


def test_the_mail_links_to_the_statement_in_the_portal(equipment, sme, settings, client):
    settings.SITE_URL = SITE
    boss = MembershipFactory(organization=sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="boss@precision.test")).user
    priced(equipment, sme, at(3))
    [statement] = services.issue_statements(operator=equipment.hub.operator, month=NOVEMBER,
                                            now=NOW)
    [mail] = OutboxMessage.objects.filter(event_type="statement.issued",
                                          channel=OutboxMessage.Channel.EMAIL)
    url = link_in(mail.payload["body"])
    assert url == f"{SITE}/statements/{statement.pk}/"
    assert opens_for(client, boss, url) == 200
