"""Who is told what about a booking, and the fan-out of a BookingEvent into outbox
messages (e-mails to the people concerned, webhooks to the hub operator's endpoints).

The BookingEvent row, written in the transaction that changed the booking, is the
durable record that a notification is owed (``notified_at`` empty). ``dispatch_event``
turns it into outbox messages exactly once, under the event's row lock; the sweep
dispatches whatever a lost nudge left behind."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from core import outbox
from core.models import WebhookEndpoint
from core.notify import bilingual, line, subject_line
from organizations.models import Membership, Organization

from .models import Booking, BookingEvent

# Which events e-mail whom: "sme" (the requester, the trial lead, else the SME's admins),
# "operator" (the hub operator's admins and operators).
EMAIL_AUDIENCE = {
    "booking.requested": ("sme", "operator"),
    "booking.confirmed": ("sme",),
    "booking.rejected": ("sme",),
    "booking.cancelled": ("sme", "operator"),
    "booking.no_show": ("sme", "operator"),
    "booking.reminder": ("sme",),
}


def headline(event_type: str) -> str:
    return {
        "booking.requested": _("Booking requested"),
        "booking.confirmed": _("Booking confirmed"),
        "booking.rejected": _("Booking rejected"),
        "booking.cancelled": _("Booking cancelled"),
        "booking.no_show": _("Booking marked as no-show"),
        "booking.reminder": _("Reminder: your trial starts soon"),
        "booking.checked_in": _("Checked in"),
        "booking.completed": _("Trial completed"),
    }.get(event_type, event_type)


def explanation(event_type: str) -> str:
    return {
        "booking.requested": _("The booking waits for the hub operator's approval."),
        "booking.confirmed": _("The slot is yours. Check in at the hub up to 30 minutes "
                               "before the start."),
        "booking.rejected": _("The hub operator did not approve the booking."),
        "booking.cancelled": _("The booking was cancelled and the slot released."),
        "booking.no_show": _("Nobody checked in, so the rest of the slot was released."),
        "booking.reminder": _("Please arrive in time to check in."),
    }.get(event_type, "")


def render(booking: Booking, event_type: str, reason: str = "") -> tuple[str, str]:
    tz = ZoneInfo(booking.equipment.hub.timezone)
    start = booking.start.astimezone(tz)
    end = booking.end.astimezone(tz)
    when = f"{start:%Y-%m-%d %H:%M} – {end:%H:%M} ({booking.equipment.hub.timezone})"

    def one_language() -> tuple[str, str]:
        subject = (f"[Testbed] {headline(event_type)}: {booking.equipment.name}, "
                   f"{start:%Y-%m-%d %H:%M}")
        lines = [headline(event_type), "", explanation(event_type), "",
                 line(_("Booking"), f"#{booking.pk}"),
                 line(_("Equipment"), booking.equipment.name),
                 line(_("Hub"), booking.equipment.hub.name),
                 line(_("When"), when),
                 line(_("Status"), booking.get_status_display())]
        if reason:
            lines.append(line(_("Reason"), reason))
        return subject, "\n".join(lines)

    return bilingual(one_language)


def _addresses(users) -> list[str]:
    return [u.email for u in users if u is not None and u.email]


def sme_recipients(booking: Booking) -> list[str]:
    people = _addresses([booking.requested_by, booking.trial_lead])
    if not people:
        people = list(Membership.objects.filter(
            organization_id=booking.organization_id, role=Membership.Role.ADMIN
        ).exclude(user__email="").values_list("user__email", flat=True))
    return list(dict.fromkeys(people))


def operator_recipients(organization_id: int) -> list[str]:
    return list(dict.fromkeys(Membership.objects.filter(
        organization_id=organization_id,
        role__in=(Membership.Role.ADMIN, Membership.Role.OPERATOR),
    ).exclude(user__email="").values_list("user__email", flat=True)))


def webhook_data(booking: Booking, event_type: str, reason: str, at) -> dict:
    return {"booking": booking.pk, "event": event_type, "status": booking.status,
            "equipment": booking.equipment_id, "hub": booking.equipment.hub.slug,
            "organization": booking.organization.slug, "start": booking.start.isoformat(),
            "end": booking.end.isoformat(), "reason": reason, "at": at.isoformat()}


def notify(booking: Booking, event_type: str, *, key: str, reason: str = "", at=None) -> None:
    """Queue the e-mails and webhooks ``event_type`` owes (idempotent per ``key``)."""
    at = at or timezone.now()
    audience = EMAIL_AUDIENCE.get(event_type, ())
    addresses = []
    if "sme" in audience:
        addresses += sme_recipients(booking)
    if "operator" in audience:
        addresses += operator_recipients(booking.equipment.hub.operator_id)
    if addresses:
        subject, body = render(booking, event_type, reason)
        for address in dict.fromkeys(addresses):
            outbox.queue_email(event_type=event_type, dedupe_key=key, to=address,
                               subject=subject, body=body)
    outbox.queue_webhooks(organization_id=booking.equipment.hub.operator_id,
                          event_type=event_type, dedupe_key=key,
                          data=webhook_data(booking, event_type, reason, at))


def dispatch_event(*, event_id: int) -> bool:
    """Fan a BookingEvent out into outbox messages, once. False if already done."""
    with transaction.atomic():
        event = (BookingEvent.objects.select_for_update(of=("self",))
                 .select_related("booking__equipment__hub", "booking__organization",
                                 "booking__requested_by", "booking__trial_lead")
                 .filter(pk=event_id).first())
        if event is None or event.notified_at is not None:
            return False
        notify(event.booking, event.code, key=f"booking-event:{event.pk}", reason=event.reason,
               at=event.at)
        event.notified_at = timezone.now()
        event.save(update_fields=["notified_at"])
    return True


def pending_events(*, older_than: timedelta = timedelta(seconds=30)):
    """Events whose notifications were never dispatched (the nudge was lost)."""
    return BookingEvent.objects.filter(notified_at__isnull=True,
                                       at__lt=timezone.now() - older_than).order_by("at")


@receiver(outbox.endpoint_disabled, dispatch_uid="bookings.endpoint_disabled")
def tell_owner_endpoint_disabled(sender, *, endpoint: WebhookEndpoint, **kwargs):
    """The endpoint's organisation hears that its endpoint was switched off."""
    org = Organization.objects.get(pk=endpoint.organization_id)

    def one_language() -> tuple[str, str]:
        return (subject_line(_("Webhook endpoint disabled"), endpoint.url),
                _("After %(n)d failed deliveries in a row, %(url)s was disabled. Fix it and "
                  "re-enable it through the API (PATCH /api/v1/webhooks/%(id)d/ "
                  "{\"active\": true}).") % {"n": endpoint.consecutive_failures,
                                             "url": endpoint.url, "id": endpoint.pk})

    subject, body = bilingual(one_language)
    for address in operator_recipients(org.pk):
        outbox.queue_email(event_type="webhook.disabled",
                           dedupe_key=f"endpoint-disabled:{endpoint.pk}:"
                                      f"{endpoint.disabled_at:%Y%m%d%H%M%S}",
                           to=address, subject=subject, body=body)

