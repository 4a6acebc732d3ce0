"""Who is told about a monthly statement: when it is issued, the firm's administrators
by e-mail (both languages, through the outbox) and the hub operator's webhook endpoints
(``statement.issued``, for its accounting system). Queued in the transaction that issues
the statement, once per statement.

Webhook ``data`` (amounts in CNY as strings with two decimals, times ISO 8601 in UTC):
``statement``, ``code``, ``organization`` (the firm's slug), ``month`` (``YYYY-MM``),
``total``, ``voucher_total``, ``sme_total``, ``lines``, ``issued_at``."""

from __future__ import annotations

from datetime import UTC

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Statement
from core import events, outbox
from core.notify import bilingual, line, link, page_url, subject_line
from core.templatetags.money import yuan
from organizations.selectors import admin_recipients

STATEMENT_ISSUED = events.register(
    "statement.issued", gettext_lazy("A monthly statement was issued to a firm."))


def statement_issued(statement: Statement, *, lines: int) -> None:
    """Queue what is owed for ``statement`` (with ``operator`` and ``organization``
    loaded; ``lines``: how many it states). Caller holds the issuing transaction."""
    key = f"statement-issued:{statement.pk}"

    def render() -> tuple[str, str]:
        month = date_format(statement.month, "YEAR_MONTH_FORMAT")
        return (subject_line(_("Monthly statement"), f"{statement.code} ({month})"),
                "\n".join([
                    _("The hub operator issued your statement for the month: what your firm "
                      "used, what the innovation voucher covers and your share. Open it in "
                      "the portal under Statements to download the PDF or CSV."), "",
                    line(_("Statement"), statement.code),
                    line(_("Hub operator"), statement.operator.name),
                    line(_("Month"), month),
                    line(_("Lines"), lines),
                    line(_("Total"), yuan(statement.total)),
                    line(_("Voucher share"), yuan(statement.voucher_total)),
                    line(_("Your share"), yuan(statement.sme_total)), "",
                    _("This is a statement, not a tax invoice (fapiao). Fapiao are issued "
                      "separately by the hub operator."),
                    *link(page_url("billing:statement", statement.pk))]))

    subject, body = bilingual(render)
    for address in admin_recipients(statement.organization_id):
        outbox.queue_email(event_type=STATEMENT_ISSUED, dedupe_key=key, to=address,
                           subject=subject, body=body)
    outbox.queue_webhooks(
        organization_id=statement.operator_id, event_type=STATEMENT_ISSUED, dedupe_key=key,
        data={"statement": statement.pk, "code": statement.code,
              "organization": statement.organization.slug,
              "month": f"{statement.month:%Y-%m}", "total": f"{statement.total:.2f}",
              "voucher_total": f"{statement.voucher_total:.2f}",
              "sme_total": f"{statement.sme_total:.2f}", "lines": lines,
              "issued_at": statement.issued_at.astimezone(UTC).isoformat()})
