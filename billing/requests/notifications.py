"""Who is told what about a service request: e-mails in both languages (``core.notify``),
queued in the outbox in the transaction that changed the request (sent and retried by the
outbox, once per request and status: a request reaches each status at most once).

- submitted, accepted, declined, withdrawn → the hub operator's administrators and
  operators;
- quoted, refused, expired → the SME: the person who asked, else its administrators.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from billing.models import ServiceRequest
from core import outbox
from core.notify import bilingual, line, link, page_url, subject_line
from organizations.selectors import admin_recipients, member_addresses, operator_recipients

R = ServiceRequest.Status
TO_OPERATOR = (R.SUBMITTED, R.ACCEPTED, R.DECLINED, R.WITHDRAWN)


def headline(status: str) -> str:
    return {
        R.SUBMITTED: _("New service request"),
        R.QUOTED: _("Offer for your service request"),
        R.ACCEPTED: _("Offer accepted"),
        R.DECLINED: _("Offer declined"),
        R.REFUSED: _("Service request refused"),
        R.WITHDRAWN: _("Service request withdrawn"),
        R.EXPIRED: _("Service request expired"),
    }.get(status, status)


def explanation(status: str) -> str:
    return {
        R.SUBMITTED: _("A firm asks your hub for a staff-assisted trial. Answer it with an "
                       "offer or refuse it in the console."),
        R.QUOTED: _("The hub answered with an offer. Accept it to book every piece of "
                    "equipment at once, or decline it, in the portal before it expires."),
        R.ACCEPTED: _("The firm accepted the offer: the bookings are made."),
        R.DECLINED: _("The firm declined the offer."),
        R.REFUSED: _("The hub cannot run this trial; the reason is below."),
        R.WITHDRAWN: _("The firm withdrew its request."),
        R.EXPIRED: _("The request was not answered, or the offer not accepted, in time."),
    }.get(status, "")


def _sme_recipients(service_request: ServiceRequest) -> list[str]:
    """Who asked, while they belong to the SME; else its administrators."""
    return (member_addresses(service_request.organization_id, [service_request.requested_by])
            or admin_recipients(service_request.organization_id))


def render(service_request: ServiceRequest, status: str, *, url: str = "") -> tuple[str, str]:
    hub = service_request.hub
    tz = ZoneInfo(hub.timezone)
    start = service_request.preferred_start.astimezone(tz)
    end = service_request.preferred_end.astimezone(tz)
    offer = service_request.offer if service_request.offer_id else None

    def one_language() -> tuple[str, str]:
        lines = [headline(status), "", explanation(status), "",
                 line(_("Request"), f"SR-{service_request.pk} {service_request.title}"),
                 line(_("Firm"), service_request.organization.name),
                 line(_("Hub"), hub.name),
                 line(_("Equipment"), ", ".join(e.name for e in service_request.equipment.all())),
                 line(_("Preferred period"),
                      f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({hub.timezone})")]
        if offer is not None and status in (R.QUOTED, R.ACCEPTED):
            lines.append(line(_("Offer total"), f"¥{offer.total:,.2f}"))
            if offer.valid_until:
                lines.append(line(_("Valid until"),
                                  f"{offer.valid_until.astimezone(tz):%Y-%m-%d %H:%M} "
                                  f"({hub.timezone})"))
        if service_request.reason:
            lines.append(line(_("Reason"), service_request.reason))
        return (subject_line(headline(status), f"SR-{service_request.pk} {service_request.title}"),
                "\n".join([*lines, *link(url)]))

    return bilingual(one_language)


def announce(service_request: ServiceRequest, status: str) -> None:
    """Queue the e-mails owed for ``service_request`` reaching ``status``. Caller holds the
    transaction that made the change."""
    addresses, url = ((operator_recipients(service_request.hub.operator_id),
                       page_url("billing-console:request-detail", service_request.pk))
                      if status in TO_OPERATOR
                      else (_sme_recipients(service_request),
                            page_url("billing:request-detail", service_request.pk)))
    if not addresses:
        return
    subject, body = render(service_request, status, url=url)
    for address in addresses:
        outbox.queue_email(event_type=f"service_request.{status}",
                           dedupe_key=f"service-request:{service_request.pk}:{status}",
                           to=address, subject=subject, body=body)
