"""Who is told what about a booking, and the fan-out of a BookingEvent into outbox
messages (e-mails to the people concerned, webhooks to the hub operator's endpoints).

The BookingEvent row, written in the transaction that changed the booking, is the
durable record that a notification is owed (``notified_at`` empty). ``dispatch_event``
turns it into outbox messages exactly once, under the event's row lock; the sweep
dispatches whatever a lost nudge left behind.

Events are facts. Every e-mail and webhook describes the change it announces from the
event's own record (its id, type, from and to status, time, actor, reason), never the
booking's status when the message is built or sent: with the worker behind, a
``booking.requested`` webhook still says requested although the booking has been
confirmed and cancelled since. What a message says is fixed when the event is fanned
out (the outbox row's payload) and each destination gets one booking's events in the
order they happened (the outbox's ordering, by event id).

Webhook ``data`` (times ISO 8601 in UTC, "+00:00"; fields may be added, never renamed):
``event_id`` (the BookingEvent's; null for ``booking.reminder``, which announces no
change), ``event``, ``booking``, ``from_status`` ("" for the event that created the
booking), ``to_status``, ``status`` (the same as ``to_status``: the status this event
moved the booking to), ``at`` (when it happened), ``actor`` (``{"user": e-mail or null,
"organization": slug or null}``; both null for the platform's own sweeps), ``reason``
(as typed, or, written by the platform, in English), ``reason_code`` (a reason the
platform wrote: its stable code, e.g. ``no_check_in``; else null), and the booking's
fixed facts ``equipment``, ``hub``, ``organization``, ``start``, ``end``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import events, outbox, reasons
from core.notify import audiences, bilingual, line, link, page_url
from organizations.models import Membership
from organizations.selectors import member_addresses, operator_recipients

from .models import Booking, BookingEvent

# The event types bookings announce to operators' webhook endpoints (core's registry).
EVENT_TYPES = {
    "booking.requested": gettext_lazy("A booking was requested (it waits for approval)."),
    "booking.confirmed": gettext_lazy("A booking was confirmed."),
    "booking.rejected": gettext_lazy("The hub operator rejected a booking request."),
    "booking.cancelled": gettext_lazy("A booking was cancelled."),
    "booking.checked_in": gettext_lazy("The SME checked in for its booking."),
    "booking.completed": gettext_lazy("A booking was completed."),
    "booking.no_show": gettext_lazy("Nobody checked in: the booking became a no-show."),
    "booking.reminder": gettext_lazy("A booking starts soon (reminder; no change)."),
}
for _event_type, _description in EVENT_TYPES.items():
    events.register(_event_type, _description)

# Which events e-mail whom: "sme" (the requester, the trial lead, else the SME's admins),
# "operator" (the hub operator's admins and operators).
EMAIL_AUDIENCE = {
    "booking.requested": ("sme", "operator"),
    "booking.confirmed": ("sme",),
    "booking.rejected": ("sme",),
    "booking.cancelled": ("sme", "operator"),
    "booking.no_show": ("sme", "operator"),
    "booking.reminder": ("sme",),
    "booking.rescheduled": ("sme", "operator"),
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
        "booking.rescheduled": _("Booking moved"),
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
        "booking.rescheduled": _("The booking was moved to another period: the reason below "
                                 "names the old and the new one."),
    }.get(event_type, "")


@dataclass(frozen=True)
class Announcement:
    """What one notification says: a change of a booking as recorded when it happened.

    ``booking`` is only read for what a booking never changes (equipment, hub, SME,
    period, the people to tell), never for its status."""

    booking: Booking
    event_type: str
    event_id: int | None
    from_status: str
    to_status: str
    at: datetime
    actor_email: str = ""
    actor_organization_slug: str = ""
    actor_organization_name: str = ""
    reason: str = ""
    reason_code: str = ""  # a reason the platform wrote (core.reasons), with its parameters
    reason_args: dict | None = None

    @classmethod
    def of_event(cls, event: BookingEvent) -> Announcement:
        """``event`` with ``booking`` (equipment, hub, organisation) and the actors loaded."""
        user, org = event.actor_user, event.actor_organization
        return cls(booking=event.booking, event_type=event.code, event_id=event.pk,
                   from_status=event.from_status, to_status=event.to_status, at=event.at,
                   actor_email=user.email if user is not None else "",
                   actor_organization_slug=org.slug if org is not None else "",
                   actor_organization_name=org.name if org is not None else "",
                   reason=event.reason, reason_code=event.reason_code,
                   reason_args=event.reason_args)

    @classmethod
    def reminder(cls, booking: Booking, *, at: datetime) -> Announcement:
        """Not a change: the booking as it is at ``at`` (the sweep selected it for it)."""
        return cls(booking=booking, event_type="booking.reminder", event_id=None,
                   from_status=booking.status, to_status=booking.status, at=at)


def _status_label(status: str) -> str:
    return str(Booking.Status(status).label) if status in Booking.Status.values else status


def _actor_label(announcement: Announcement) -> str:
    who = [x for x in (announcement.actor_email, announcement.actor_organization_name) if x]
    if not who:
        return _("Testbed (automatic)")
    return f"{who[0]} ({who[1]})" if len(who) == 2 else who[0]


def render(announcement: Announcement, *, url: str = "") -> tuple[str, str]:
    """(subject, body) in both languages; ``url``, when given, ends the body (the
    booking's page for the reader: the SME's or the hub operator's)."""
    booking, event_type = announcement.booking, announcement.event_type
    tz = ZoneInfo(booking.equipment.hub.timezone)
    start = booking.start.astimezone(tz)
    end = booking.end.astimezone(tz)
    when = f"{start:%Y-%m-%d %H:%M} – {end:%H:%M} ({booking.equipment.hub.timezone})"
    at = f"{announcement.at.astimezone(tz):%Y-%m-%d %H:%M} ({booking.equipment.hub.timezone})"
    is_change = announcement.event_id is not None

    def one_language() -> tuple[str, str]:
        subject = (f"[Testbed] {headline(event_type)}: {booking.equipment.name}, "
                   f"{start:%Y-%m-%d %H:%M}")
        lines = [headline(event_type), "", explanation(event_type), "",
                 line(_("Booking"), f"#{booking.pk}"),
                 line(_("Equipment"), booking.equipment.name),
                 line(_("Hub"), booking.equipment.hub.name),
                 line(_("When"), when),
                 line(_("Status"), _status_label(announcement.to_status))]
        if is_change:
            if announcement.from_status:
                lines.append(line(_("Previous status"),
                                  _status_label(announcement.from_status)))
            lines += [line(_("Changed at"), at), line(_("By"), _actor_label(announcement))]
        if announcement.reason:
            lines.append(line(_("Reason"), reasons.shown(
                announcement.reason_code, announcement.reason_args, announcement.reason)))
        return subject, "\n".join([*lines, *link(url)])

    return bilingual(one_language)


def sme_recipients(booking: Booking) -> list[str]:
    """Who made the booking and who leads its trial, while they belong to the SME; else its
    administrators."""
    people = member_addresses(booking.organization_id,
                              [booking.requested_by, booking.trial_lead])
    if not people:
        people = list(Membership.objects.filter(
            organization_id=booking.organization_id, role=Membership.Role.ADMIN
        ).exclude(user__email="").values_list("user__email", flat=True))
    return list(dict.fromkeys(people))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def webhook_data(announcement: Announcement) -> dict:
    """The webhook ``data`` (see the module docstring)."""
    booking = announcement.booking
    return {"event_id": announcement.event_id, "event": announcement.event_type,
            "booking": booking.pk,
            "from_status": announcement.from_status, "to_status": announcement.to_status,
            "status": announcement.to_status, "at": _utc(announcement.at),
            "actor": {"user": announcement.actor_email or None,
                      "organization": announcement.actor_organization_slug or None},
            "reason": announcement.reason, "reason_code": announcement.reason_code or None,
            "equipment": booking.equipment_id, "hub": booking.equipment.hub.slug,
            "organization": booking.organization.slug, "start": _utc(booking.start),
            "end": _utc(booking.end)}


def notify(announcement: Announcement, *, key: str) -> None:
    """Queue the e-mails and webhooks the announcement owes (idempotent per ``key``). A
    booking's events reach each destination in event order."""
    booking, event_type = announcement.booking, announcement.event_type
    ordering = (None if announcement.event_id is None
                else (f"booking:{booking.pk}", announcement.event_id))
    audience = EMAIL_AUDIENCE.get(event_type, ())
    sme = sme_recipients(booking) if "sme" in audience else []
    operator = (operator_recipients(booking.equipment.hub.operator_id)
                if "operator" in audience else [])
    for addresses, url in audiences((sme, page_url("bookings:detail", booking.pk)),
                                    (operator, page_url("console:booking", booking.pk))):
        subject, body = render(announcement, url=url)
        for address in addresses:
            outbox.queue_email(event_type=event_type, dedupe_key=key, to=address,
                               subject=subject, body=body, ordering=ordering)
    outbox.queue_webhooks(organization_id=booking.equipment.hub.operator_id,
                          event_type=event_type, dedupe_key=key,
                          data=webhook_data(announcement), ordering=ordering)


def dispatch_event(*, event_id: int) -> bool:
    """Fan a BookingEvent out into outbox messages, once. False if already done.

    Earlier events of the same booking still waiting for their fan-out (a lost nudge, a
    failed run) are fanned out first, in the same transaction: a message is never queued
    before the messages of the events that happened before it, so the outbox's ordering
    can hold each one back until those are sent."""
    booking_id = (BookingEvent.objects.filter(pk=event_id)
                  .values_list("booking_id", flat=True).first())
    if booking_id is None:
        return False
    with transaction.atomic():
        # Locked in id order (the order the events happened), so overlapping runs for
        # one booking wait for each other rather than deadlock.
        events = list(
            BookingEvent.objects.select_for_update(of=("self",))
            .select_related("booking__equipment__hub", "booking__organization",
                            "booking__requested_by", "booking__trial_lead",
                            "actor_user", "actor_organization")
            .filter(booking_id=booking_id, pk__lte=event_id, notified_at__isnull=True)
            .order_by("pk"))
        if not events or events[-1].pk != event_id:
            return False  # dispatched meanwhile (with its predecessors)
        now = timezone.now()
        for event in events:
            notify(Announcement.of_event(event), key=f"booking-event:{event.pk}")
            event.notified_at = now
            event.save(update_fields=["notified_at"])
    return True


def pending_events(*, older_than: timedelta = timedelta(seconds=30)):
    """Events whose notifications were never dispatched (the nudge was lost)."""
    return BookingEvent.objects.filter(notified_at__isnull=True,
                                       at__lt=timezone.now() - older_than).order_by("at")


