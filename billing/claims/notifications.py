"""Who is told about a settlement claim's moves: platform staff by e-mail when a provider
submits one (they record the programme office's decision); the provider's administrators
and operators by e-mail when it is approved, paid or rejected; and the provider's webhook
endpoints (``claim.submitted``, ``claim.approved``, ``claim.paid``, ``claim.rejected``) on
each, for its accounting system. Queued in the transaction that moves the claim, once per
move (a claim rejected, reopened and submitted again is announced again).

Webhook ``data`` (amounts in CNY as strings with two decimals, times ISO 8601 in UTC):
``claim``, ``programme`` (its reference), ``month`` (``YYYY-MM``), ``number`` (in the
month), ``status``, ``amount``, ``at`` (when it moved), ``reason`` (a rejection's),
``payment_reference`` (a payment's)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import SettlementClaim
from core import events, outbox
from core.notify import bilingual, line, link, page_url, subject_line
from core.templatetags.money import yuan
from organizations.selectors import operator_recipients, staff_recipients

S = SettlementClaim.Status

EVENT_TYPES = {
    S.SUBMITTED: events.register(
        "claim.submitted", gettext_lazy("A settlement claim was submitted to a voucher "
                                        "programme.")),
    S.APPROVED: events.register(
        "claim.approved", gettext_lazy("The programme office approved a settlement claim.")),
    S.PAID: events.register(
        "claim.paid", gettext_lazy("The programme paid a settlement claim.")),
    S.REJECTED: events.register(
        "claim.rejected", gettext_lazy("The programme office rejected a settlement claim.")),
}


def headline(status: str) -> str:
    return {
        S.SUBMITTED: _("Settlement claim submitted"),
        S.APPROVED: _("Settlement claim approved"),
        S.PAID: _("Settlement claim paid"),
        S.REJECTED: _("Settlement claim rejected"),
    }[status]


def explanation(status: str) -> str:
    return {
        S.SUBMITTED: _("A hub operator submitted a settlement claim to a voucher programme. "
                       "Record the programme office's decision in the admin console."),
        S.APPROVED: _("The programme office approved your settlement claim; the payment "
                      "follows."),
        S.PAID: _("The programme paid your settlement claim."),
        S.REJECTED: _("The programme office rejected your settlement claim. Reopen it in the "
                      "console, put right what the reason names and submit it again."),
    }[status]


def claim_moved(claim: SettlementClaim, at: datetime) -> None:
    """Queue what is owed for ``claim`` (``programme`` and ``provider`` loaded) having
    reached its status at ``at``. Caller holds the transaction that moved it."""
    status = claim.status
    if status not in EVENT_TYPES:
        return
    key = f"claim:{claim.pk}:{status}:{at.astimezone(UTC):%Y%m%d%H%M%S%f}"

    def render(url: str) -> tuple[str, str]:
        month = date_format(claim.month, "YEAR_MONTH_FORMAT")
        lines = [headline(status), "", explanation(status), "",
                 line(_("Claim"), str(claim)),
                 line(_("Provider"), claim.provider.name),
                 line(_("Programme"), f"{claim.programme.reference} {claim.programme.name}"),
                 line(_("Month"), month),
                 line(_("Amount"), yuan(claim.amount))]
        if status == S.PAID:
            lines.append(line(_("Payment reference"), claim.payment_reference))
        if status == S.REJECTED:
            lines.append(line(_("Reason"), claim.reason))
        return (subject_line(headline(status), f"{str(claim)} ({month})"),
                "\n".join([*lines, *link(url)]))

    # Staff record the programme office's decision in the admin; the provider reads its
    # claim in the console.
    addresses, url = ((staff_recipients(),
                       page_url("admin:billing_settlementclaim_change", claim.pk))
                      if status == S.SUBMITTED
                      else (operator_recipients(claim.provider_id),
                            page_url("billing-console:claim", claim.pk)))
    if addresses:
        subject, body = bilingual(lambda: render(url))
        for address in addresses:
            outbox.queue_email(event_type=EVENT_TYPES[status], dedupe_key=key, to=address,
                               subject=subject, body=body)
    outbox.queue_webhooks(
        organization_id=claim.provider_id, event_type=EVENT_TYPES[status], dedupe_key=key,
        data={"claim": claim.pk, "programme": claim.programme.reference,
              "month": f"{claim.month:%Y-%m}", "number": claim.number, "status": status,
              "amount": f"{claim.amount:.2f}", "at": at.astimezone(UTC).isoformat(),
              "reason": claim.reason if status == S.REJECTED else "",
              "payment_reference": claim.payment_reference})
