"""Booking use cases. Each validates, opens the transaction, takes the locks, writes,
records a BookingEvent (the history and the record of what must be notified) and
announces the change with ``booking_status_changed``.

Concurrency (invariant 1): every use case here takes the equipment row lock first
(``equipment.services.lock_equipment``, the one lock that maintenance windows and status
changes take too), so bookings of one equipment are decided one at a time and the loser
of a race sees the winner's row and gets a 409; on PostgreSQL the exclusion constraint
``booking_no_overlap`` backs this up (a violation is turned into the same 409). Booking
rows are locked through ``core.db.locked`` after it; a lock not had within
``DB_LOCK_TIMEOUT_MS`` is a 503 "busy". Who may act is read (unlocked) before any lock is
waited for. On SQLite, write transactions
start with BEGIN IMMEDIATE and so never interleave.

``decision_reason`` (with ``decided_by``/``decided_at``) is the operator's approve or
reject decision and nothing else; every change's own reason is in its BookingEvent.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core import db, events, reasons
from core.errors import Conflict, ValidationFailed, valid_id
from core.validators import validate_period
from equipment.errors import EQUIPMENT_NOT_FOUND
from equipment.models import Equipment, Qualification
from equipment.services import lock_equipment
from equipment.wording import duration
from organizations.errors import NOT_SME
from organizations.models import Organization
from pricing import services as pricing
from pricing.errors import QUOTE_UNKNOWN
from pricing.models import Quote, QuoteLine

from . import errors, policy
from . import reasons as booking_reasons
from .models import NO_OVERLAP_CONSTRAINT, Booking, BookingAttachment, BookingEvent, CalendarFeed
from .selectors import (
    Surroundings,
    around_slot,
    bookings_actable_by,
    cancellable_overlapping,
    in_progress_overlapping,
    no_show_grace,
)
from .signals import booking_status_changed

S = Booking.Status


# Legal transitions: (from, to) → who may make it ("operator", "owner").
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.REQUESTED, S.CONFIRMED): frozenset({"operator"}),
    (S.REQUESTED, S.REJECTED): frozenset({"operator"}),
    (S.REQUESTED, S.CANCELLED): frozenset({"operator", "owner", "system"}),
    (S.CONFIRMED, S.CANCELLED): frozenset({"operator", "owner"}),
    (S.CONFIRMED, S.CHECKED_IN): frozenset({"operator", "system"}),
    (S.CONFIRMED, S.NO_SHOW): frozenset({"operator", "system"}),
    (S.CHECKED_IN, S.COMPLETED): frozenset({"operator"}),
}

EVENT_CODES = {
    S.REQUESTED: "booking.requested",
    S.CONFIRMED: "booking.confirmed",
    S.REJECTED: "booking.rejected",
    S.CANCELLED: "booking.cancelled",
    S.CHECKED_IN: "booking.checked_in",
    S.COMPLETED: "booking.completed",
    S.NO_SHOW: "booking.no_show",
}


def _trial_lead(organization: Organization, by_user, trial_lead_email: str | None):
    """The person who will run the trial: the named SME member, else the requester."""
    if not trial_lead_email:
        return by_user
    User = get_user_model()
    user = (User.objects.filter(
        Q(email__iexact=trial_lead_email) | Q(username__iexact=trial_lead_email),
        memberships__organization=organization).first())
    if user is None:
        raise errors.TRIAL_LEAD_UNKNOWN.error()
    return user


def _is_qualified(user, equipment: Equipment, now: datetime) -> bool:
    return Qualification.objects.filter(
        Q(equipment=equipment) | Q(category_id=equipment.category_id),
        Q(expires__isnull=True) | Q(expires__gt=now),
        user=user,
    ).exists()


def _event(booking: Booking, *, reason: str = "", **fields) -> BookingEvent:
    """INSERT an event of ``booking``, with its SME and its hub's operator copied onto it
    (each side's events feed seeks its own column), and its reason as typed or, written by
    the platform, catalogued (``core.reasons``: shown in the reader's language)."""
    return db.insert(BookingEvent(booking=booking, organization_id=booking.organization_id,
                                  operator_id=booking.operator_id, **reasons.stored(reason),
                                  **fields))


def _record(booking: Booking, *, from_status: str, actor_user, actor_org, reason: str,
            at: datetime) -> BookingEvent:
    event = _event(booking, code=EVENT_CODES[booking.status], from_status=from_status,
                   to_status=booking.status, actor_user=actor_user,
                   actor_organization=actor_org, reason=reason, at=at)
    booking_status_changed.send(sender=Booking, booking=booking, from_status=from_status,
                                to_status=booking.status, actor_user=actor_user, reason=reason)
    from .tasks import nudge  # the tasks module imports this one

    # The event row is the durable record that notifications are owed; this is the nudge.
    transaction.on_commit(lambda: nudge(event.pk))
    return event


def _origin(organization: Organization, quote_id) -> Quote | None:
    """The SME's estimate or offer a booking is made from (``quote_id``), with its lines;
    ValidationFailed (field ``quote``) when the SME has no such quote."""
    if quote_id is None:
        return None
    pk = valid_id(quote_id)
    origin = (Quote.objects.filter(pk=pk, organization=organization,
                                   kind__in=(Quote.Kind.ESTIMATE, Quote.Kind.OFFER))
              .prefetch_related("lines").first() if pk else None)
    if origin is None:
        raise QUOTE_UNKNOWN.error()
    return origin


def create_booking(*, equipment_id: int, organization: Organization, start: datetime,
                   end: datetime, purpose: str, by_user=None,
                   trial_lead_email: str | None = None, now: datetime | None = None,
                   grant_id: int | None = None, shortfall: str = "sme_pays",
                   quote_id: int | None = None, origin_lines: list[QuoteLine] | None = None,
                   assisted: bool = False) -> Booking:
    """Book ``[start, end)`` of an equipment for an SME. Confirmed at once unless the
    equipment needs approval. Priced in the same transaction (``pricing.price_booking``):
    the booking keeps its quote's lines (``Booking.quote``, ``price`` its total), from
    the estimate ``quote_id`` while it is valid, or ``origin_lines`` (an accepted offer's),
    split with the voucher grant ``grant_id`` (``shortfall``: ``sme_pays`` or
    ``refuse``). Raises ValidationFailed with every broken rule, Conflict (409) when the
    slot is taken or the voucher falls short and the SME asked to refuse, Forbidden when
    the organisation is not an SME."""
    validate_period(start, end)
    if organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    if not purpose or not purpose.strip():
        raise errors.PURPOSE_REQUIRED.error()
    now = now or timezone.now()
    lead = _trial_lead(organization, by_user, trial_lead_email)
    origin = _origin(organization, quote_id)
    pricing_input = {"grant_id": grant_id, "shortfall": shortfall, "origin": origin,
                     "origin_lines": origin_lines, "assisted": assisted}
    try:
        # savepoint=False: inside an outer transaction (idempotency) this costs no SAVEPOINT
        # round trips. A refusal is returned from the block, which wrote nothing, and raised
        # after it, so an outer transaction stays usable.
        with transaction.atomic(savepoint=False):
            outcome = _decide_and_insert(equipment_id=equipment_id, organization=organization,
                                         start=start, end=end, purpose=purpose.strip(),
                                         by_user=by_user, lead=lead, now=now,
                                         pricing_input=pricing_input)
    except IntegrityError as exc:
        if NO_OVERLAP_CONSTRAINT in str(exc):
            raise errors.SLOT_TAKEN.error() from exc
        raise
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _period_refusal(*, equipment: Equipment, organization: Organization, start: datetime,
                    end: datetime, lead, now: datetime,
                    moving: Booking | None = None) -> Exception | None:
    """Every booking rule and the slot's neighbours for [start, end), as the create path
    decides them (the policy, then taken or too close); ``moving``: a booking of the same
    SME being moved, which neither blocks its new period nor counts as one more open
    booking. Caller holds the equipment lock."""
    around = around_slot(equipment=equipment, start=start, end=end, organization=organization)
    if moving is not None:
        own = (moving.start, moving.end, moving.blocked_until)
        others = list(around.bookings)
        if own in others:
            others.remove(own)
        around = dataclasses.replace(around, bookings=others,
                                     own_open=max(0, around.own_open - 1))
    qualified = None
    if equipment.qualification_required and lead is not None:
        qualified = _is_qualified(lead, equipment, now)
    violations = policy.evaluate(policy.PolicyInput(
        equipment=equipment, organization=organization, start=start, end=end, now=now,
        maintenance=around.maintenance, open_bookings=around.own_open, qualified=qualified))
    if violations:
        return ValidationFailed(violations, gettext_lazy("The booking breaks the equipment's "
                                                         "rules."))
    if around.bookings:
        return _slot_taken(equipment, around, start, end)
    return None


def _decide_and_insert(*, equipment_id, organization, start, end, purpose, by_user, lead,
                       now, pricing_input: dict) -> Booking | Exception:
    """Under the equipment row lock: the refusal, or the new booking with its quote (the
    voucher share reserved on the grant). Caller holds the transaction; a refusal is
    returned before anything is written."""
    equipment = lock_equipment(equipment_id)
    if equipment is None:
        return ValidationFailed([EQUIPMENT_NOT_FOUND.violation()])
    refusal = _period_refusal(equipment=equipment, organization=organization, start=start,
                              end=end, lead=lead, now=now)
    if refusal is not None:
        return refusal
    # The quote, its lines, the booking, its event and its trial are INSERTed in one
    # statement as the block ends (their ids are set then; nothing here reads them before).
    with db.batched_inserts():
        quote = pricing.price_booking(equipment=equipment, organization=organization,
                                      start=start, end=end, by_user=by_user, now=now,
                                      **pricing_input)
        if isinstance(quote, Exception):
            return quote
        booking = db.insert(Booking(
            equipment=equipment, organization=organization,
            operator_id=equipment.hub.operator_id, requested_by=by_user,
            trial_lead=lead, start=start, end=end,
            blocked_until=end + timedelta(minutes=equipment.changeover_buffer),
            status=S.REQUESTED if equipment.approval_required else S.CONFIRMED,
            purpose=purpose, price=quote.total, quote=quote))
        _record(booking, from_status="", actor_user=by_user, actor_org=organization,
                reason="", at=now)
    return booking


def _slot_taken(equipment: Equipment, around: Surroundings, start, end) -> Conflict:
    core = around.overlapping(start, end)
    conflicts = {"conflicts": [
        {"start": s.isoformat(), "end": e.isoformat(), "blocked_until": b.isoformat()}
        for s, e, b in around.bookings]}
    if core:
        return errors.SLOT_TAKEN.error(extra=conflicts)
    return errors.CHANGEOVER_BUFFER.error(extra=conflicts,
                                          d=duration(equipment.changeover_buffer))


def _actor_roles(booking: Booking, organization: Organization | None) -> set[str]:
    roles = set()
    if organization is None:
        return roles
    if booking.equipment.hub.operator_id == organization.pk:
        roles.add("operator")
    if booking.organization_id == organization.pk:
        roles.add("owner")
    return roles


# The longest reason a person may give for a booking's move, at every door.
REASON_MAX_LENGTH = 2000


def _transition(*, booking_id: int, organization: Organization | None, to: str,
                reason: str = "", by_user=None, now: datetime | None = None,
                system: bool = False, guard=None) -> Booking:
    """Move a booking to ``to`` under a row lock, if the move is legal and the actor may.

    The equipment lock is taken first (the order every use case follows: equipment, then
    its bookings), so a transition never interleaves with maintenance or a status change
    cancelling the same booking. ``decided_by``/``decided_at``/``decision_reason`` are the
    operator's decision (approve or reject) and only that; any other move's reason lives
    in its BookingEvent."""
    now = now or timezone.now()
    if len(reason or "") > REASON_MAX_LENGTH:
        raise errors.REASON_TOO_LONG.error(limit=REASON_MAX_LENGTH)
    # Who may see it first, with a plain read: another tenant's booking is "not found"
    # before any lock is waited for, so no one can lock (or, by a 503, detect) a row of
    # someone else's. The roles are checked again under the lock.
    visible = Booking.objects if system else bookings_actable_by(organization)
    equipment_id = (visible.filter(pk=booking_id)
                    .values_list("equipment_id", flat=True).first())
    if equipment_id is None:
        raise errors.BOOKING_NOT_FOUND.error()
    with transaction.atomic():
        lock_equipment(equipment_id)
        booking = db.locked_one(
            Booking.objects.select_related("equipment", "equipment__hub", "organization")
            .filter(pk=booking_id), of=("self",))
        roles = {"system"} if system else _actor_roles(booking, organization) if booking else set()
        if booking is None or not roles:
            raise errors.BOOKING_NOT_FOUND.error()
        allowed = TRANSITIONS.get((booking.status, to))
        if allowed is None:
            raise errors.ILLEGAL_TRANSITION.error(
                extra={"current_status": booking.status},
                status=booking.get_status_display().lower(), target=S(to).label.lower())
        if not roles & allowed:
            raise errors.NOT_ALLOWED.error(extra={"allowed": sorted(allowed - {"system"})})
        if guard:
            guard(booking, now, roles)
        from_status = booking.status
        booking.status = to
        fields = ["status", "updated"]
        if to in (S.CONFIRMED, S.REJECTED):
            # The decision's reason is what a person wrote; one the platform wrote (a bulk
            # action in the admin console) is in the event alone, in the reader's language.
            typed = "" if isinstance(reason, reasons.Reason) else reason
            booking.decided_by, booking.decided_at, booking.decision_reason = by_user, now, typed
            fields += ["decided_by", "decided_at", "decision_reason"]
        elif to == S.CHECKED_IN:
            booking.checked_in_at = now
            fields.append("checked_in_at")
        elif to == S.COMPLETED:
            booking.completed_at = now
            fields.append("completed_at")
        booking.save(update_fields=fields)
        if to in RELEASING:
            late = (to == S.CANCELLED and not system and organization is not None
                    and organization.pk == booking.organization_id)
            _release_price(booking, now=now, late=late)
        _record(booking, from_status=from_status, actor_user=by_user,
                actor_org=None if system else organization, reason=reason, at=now)
    return booking


# A booking ending here gives its quote back: the voucher share returns to the grant.
RELEASING = (S.CANCELLED, S.REJECTED, S.NO_SHOW)


def _release_price(booking: Booking, *, now: datetime, late: bool = False) -> None:
    """Release the booking's quote (caller holds the booking's locks and transaction). With
    ``late`` (the SME itself cancelling), the late-cancellation fee of
    ``policy.late_cancellation_fee`` is added for the SME alone."""
    if booking.quote_id is None:
        return
    fee = (policy.late_cancellation_fee(price=booking.price, start=booking.start, now=now)
           if late else Decimal(0))
    pricing.release_quote(Quote(pk=booking.quote_id), late_fee=fee, now=now)


def approve_booking(*, booking_id: int, organization: Organization, reason: str = "",
                    by_user=None, now=None) -> Booking:
    return _transition(booking_id=booking_id, organization=organization, to=S.CONFIRMED,
                       reason=reason, by_user=by_user, now=now)


def reject_booking(*, booking_id: int, organization: Organization, reason: str = "",
                   by_user=None, now=None) -> Booking:
    return _transition(booking_id=booking_id, organization=organization, to=S.REJECTED,
                       reason=reason, by_user=by_user, now=now)


def _cancel_guard(booking: Booking, now: datetime, roles: set[str]) -> None:
    # The SME may cancel until the start; the operator at any time before check-in.
    if "operator" not in roles and now >= booking.start:
        raise errors.CANCEL_TOO_LATE.error()


def cancel_booking(*, booking_id: int, organization: Organization, reason: str = "",
                   by_user=None, now=None) -> Booking:
    return _transition(booking_id=booking_id, organization=organization, to=S.CANCELLED,
                       reason=reason, by_user=by_user, now=now, guard=_cancel_guard)


def _check_in_guard(booking: Booking, now: datetime, roles: set[str]) -> None:
    opens = settings.BOOKING_CHECK_IN_OPENS_MINUTES
    if now < booking.start - timedelta(minutes=opens):
        raise errors.CHECK_IN_NOT_OPEN.error(minutes=opens)


def check_in_booking(*, booking_id: int, organization: Organization, reason: str = "",
                     by_user=None, now=None) -> Booking:
    return _transition(booking_id=booking_id, organization=organization, to=S.CHECKED_IN,
                       reason=reason, by_user=by_user, now=now, guard=_check_in_guard)


def _complete_guard(booking: Booking, now: datetime, roles: set[str]) -> None:
    if now < booking.start:
        raise errors.COMPLETE_TOO_EARLY.error()


def complete_booking(*, booking_id: int, organization: Organization, reason: str = "",
                     by_user=None, now=None) -> Booking:
    return _transition(booking_id=booking_id, organization=organization, to=S.COMPLETED,
                       reason=reason, by_user=by_user, now=now, guard=_complete_guard)


def auto_check_in(*, booking_id: int, reason: str | None = None, now=None) -> Booking:
    """System: the machine became active within the slot of a confirmed booking at a hub
    that checks in automatically (the collector saw the state signal). The slot must have
    begun: activity before the start is the previous user's, or set-up."""
    def guard(booking: Booking, now: datetime, roles: set[str]) -> None:
        if not booking.equipment.hub.auto_check_in or not booking.start <= now < booking.end:
            raise errors.CHECK_IN_NOT_OPEN.error(minutes=0)

    return _transition(booking_id=booking_id, organization=None, to=S.CHECKED_IN,
                       reason=reason if reason is not None
                       else booking_reasons.CHECKED_IN_BY_MACHINE.of(),
                       now=now, system=True, guard=guard)


def record_usage(*, booking_id: int, actual_start: datetime | None,
                 actual_end: datetime | None, actual_seconds: int | None) -> None:
    """Store the usage evidence of a booking (from its equipment's state signal, when its
    trial is collected): when the machine was first and last active in the slot, and for
    how many seconds. None everywhere: the source has no state signal."""
    Booking.objects.filter(pk=booking_id).update(
        actual_start=actual_start, actual_end=actual_end, actual_seconds=actual_seconds,
        updated=timezone.now())


def mark_no_show(*, booking_id: int, reason: str, now=None) -> Booking:
    """System: nobody checked in; the rest of the slot is released."""
    return _transition(booking_id=booking_id, organization=None, to=S.NO_SHOW, reason=reason,
                       now=now, system=True)


def expire_request(*, booking_id: int, reason: str, now=None) -> Booking:
    """System: a request nobody approved before its start lapses."""
    return _transition(booking_id=booking_id, organization=None, to=S.CANCELLED,
                       reason=reason, now=now, system=True)


def refuse_maintenance_over_trials(*, equipment_id: int, start: datetime,
                                   end: datetime) -> None:
    """Conflict (409, ``maintenance_overlaps_trial_in_progress``, naming the bookings) when
    a checked-in booking (a trial in progress) overlaps [start, end): maintenance is not
    planned over a running trial. The console's preview asks this too, before saving."""
    running = list(in_progress_overlapping(equipment_id=equipment_id, start=start, end=end)
                   .values_list("pk", flat=True))
    if running:
        ids = ", ".join(f"#{pk}" for pk in running)
        raise errors.MAINTENANCE_OVERLAPS_TRIAL_IN_PROGRESS.error(
            extra={"bookings": running}, ids=ids, count=len(running))


def cancel_overlapping(*, equipment: Equipment, start: datetime, end: datetime, reason: str,
                       by_user=None, now: datetime | None = None,
                       refuse_in_progress: bool = False) -> list[Booking]:
    """Cancel every requested or confirmed booking of ``equipment`` overlapping
    [start, end) (``selectors.cancellable_overlapping``, the query the console's preview
    shows), each with ``reason`` recorded in its BookingEvent (and so queued for
    notification), as the hub operator's act. Returns the cancelled bookings. Caller
    holds a transaction and the equipment lock.

    A trial already checked in is never cancelled here (it is running; the operator
    completes it). With ``refuse_in_progress`` (a maintenance window) one that overlaps
    makes the whole change a Conflict (409, ``maintenance_overlaps_trial_in_progress``),
    nothing cancelled; without it (equipment going down or retired: an emergency during a
    running trial is legitimate) the trial is left checked in."""
    now = now or timezone.now()
    if refuse_in_progress:
        refuse_maintenance_over_trials(equipment_id=equipment.pk, start=start, end=end)
    cancelled = []
    for booking in db.locked(cancellable_overlapping(equipment_id=equipment.pk, start=start,
                                                     end=end), of=("self",)):
        from_status = booking.status
        booking.status = S.CANCELLED
        booking.save(update_fields=["status", "updated"])
        _release_price(booking, now=now)
        _record(booking, from_status=from_status, actor_user=by_user,
                actor_org=equipment.hub.operator, reason=reason, at=now)
        cancelled.append(booking)
    return cancelled


# A no-show marked too early (before the start plus the grace) is refused like a completion
# before the start: the same code, in words that name the grace.




def _operator_no_show_guard(booking: Booking, now: datetime, roles: set[str]) -> None:
    grace = no_show_grace()
    if now < booking.start + grace:
        raise errors.NO_SHOW_TOO_EARLY.error(minutes=int(grace.total_seconds() // 60))


def mark_no_show_by_operator(*, booking_id: int, organization: Organization, reason: str = "",
                             by_user=None, now=None) -> Booking:
    """The hub operator records that nobody came: a confirmed booking whose start plus the
    no-show grace has passed without a check-in (what the sweep, ``mark_no_show``, would
    do, done at once). The rest of the slot is released."""
    return _transition(booking_id=booking_id, organization=organization, to=S.NO_SHOW,
                       reason=reason, by_user=by_user, now=now, guard=_operator_no_show_guard)


# --- SME basics: moving a booking, attaching files (issue 15, part 4) -------------------




RESCHEDULED = events.register("booking.rescheduled", gettext_lazy(
    "A booking was moved to another period (the event's reason names both periods)."))
RESCHEDULABLE = (S.REQUESTED, S.CONFIRMED)


def _period_text(start: datetime, end: datetime, tz_name: str) -> str:
    """A period in the hub's wall-clock time, in no language (history and webhooks)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    s, e = start.astimezone(tz), end.astimezone(tz)
    tail = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%Y-%m-%d %H:%M}"
    return f"{s:%Y-%m-%d %H:%M}–{tail}"


def reschedule_booking(*, booking_id: int, organization: Organization, start: datetime,
                       end: datetime, by_user=None, now: datetime | None = None) -> Booking:
    """The SME moves its booking (requested, or confirmed where the equipment needs no
    approval; not yet started) to [start, end): in one transaction under the equipment
    lock, the new period passes every rule of a new booking (``_period_refusal``) or
    nothing changes. The price is quoted again (``_reprice``: an offer's prices hold); a
    ``booking.rescheduled`` event records both periods (history, notifications, calendar
    feeds' sequence). Raises what
    ``create_booking`` raises for the period, NotFound for another tenant's booking,
    Forbidden for the hub operator, Conflict when it cannot be moved."""
    validate_period(start, end)
    now = now or timezone.now()
    equipment_id = (bookings_actable_by(organization).filter(pk=booking_id)
                    .values_list("equipment_id", flat=True).first())
    if equipment_id is None:
        raise errors.BOOKING_NOT_FOUND.error()
    try:
        with transaction.atomic():
            equipment = lock_equipment(equipment_id)
            booking = db.locked_one(
                Booking.objects.select_related("equipment", "equipment__hub", "organization",
                                               "trial_lead").filter(pk=booking_id),
                of=("self",))
            if booking is None:
                raise errors.BOOKING_NOT_FOUND.error()
            if "owner" not in _actor_roles(booking, organization):
                raise errors.NOT_ALLOWED.error(extra={"allowed": ["owner"]})
            if booking.status not in RESCHEDULABLE or now >= booking.start:
                raise errors.RESCHEDULE_NOT_POSSIBLE.error(
                    extra={"current_status": booking.status})
            if booking.status == S.CONFIRMED and equipment.approval_required:
                raise errors.RESCHEDULE_APPROVED.error(extra={"current_status": booking.status})
            if (start, end) == (booking.start, booking.end):
                raise errors.RESCHEDULE_SAME_PERIOD.error()
            refusal = _period_refusal(equipment=equipment, organization=organization,
                                      start=start, end=end, lead=booking.trial_lead, now=now,
                                      moving=booking)
            if refusal is not None:
                raise refusal
            tz_name = equipment.hub.timezone
            moved = (f"{_period_text(booking.start, booking.end, tz_name)} → "
                     f"{_period_text(start, end, tz_name)} ({tz_name})")
            quote = _reprice(booking, equipment=equipment, start=start, end=end,
                             by_user=by_user, now=now)
            booking.start, booking.end = start, end
            booking.blocked_until = end + timedelta(minutes=equipment.changeover_buffer)
            booking.price, booking.quote = quote.total, quote
            booking.save(update_fields=["start", "end", "blocked_until", "price", "quote",
                                        "updated"])
            event = _event(booking, code=RESCHEDULED, from_status=booking.status,
                           to_status=booking.status, actor_user=by_user,
                           actor_organization=organization, reason=moved, at=now)
            from .tasks import nudge

            transaction.on_commit(lambda: nudge(event.pk))
    except IntegrityError as exc:
        if NO_OVERLAP_CONSTRAINT in str(exc):
            raise errors.SLOT_TAKEN.error() from exc
        raise
    return booking


def _reprice(booking: Booking, *, equipment: Equipment, start: datetime, end: datetime,
             by_user, now: datetime) -> Quote:
    """The moved booking's new quote: the old one released (its voucher share returned),
    a new one for [start, end) with the same grant, shortfall and staff assistance. Priced
    from the rate card of the new day, the old quote's items carried over at their prices;
    a booking made from the hub's offer keeps all the offer's prices instead (its hourly
    lines for the new period's hours: ``pricing.moved_lines``). Raises the refusal (the
    caller's transaction then rolls back). Caller holds the equipment and booking locks."""
    old = (Quote.objects.select_related("origin").filter(pk=booking.quote_id).first()
           if booking.quote_id else None)
    if old is not None:
        pricing.release_quote(old, now=now)
    offered = old is not None and old.origin is not None and old.origin.kind == Quote.Kind.OFFER
    quote = pricing.price_booking(
        equipment=equipment, organization=booking.organization, start=start, end=end,
        grant_id=old.grant_id if old else None,
        shortfall=old.shortfall if old else Quote.Shortfall.SME_PAYS,
        origin=old.origin if old else None, assisted=old.assisted if old else False,
        origin_lines=pricing.moved_lines(old, start=start, end=end) if offered else None,
        carry_lines=(list(old.lines.filter(kind=QuoteLine.Kind.ITEM))
                     if old and not offered else ()),
        by_user=by_user, now=now)
    if isinstance(quote, Exception):
        raise quote
    return quote


# Attachments: what a file's bytes must show for its extension.
ATTACHMENT_KINDS: dict[str, str] = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".zip": "application/zip", ".step": "model/step",
    ".stp": "model/step", ".dxf": "image/vnd.dxf",
}
ATTACHABLE = (S.REQUESTED, S.CONFIRMED)
_SNIFF_BYTES = 8192


def _sniff(head: bytes) -> str | None:
    """The type the file's first bytes show, among ``ATTACHMENT_KINDS``: binary formats by
    their signature (``filetype``), STEP by its ISO 10303-21 header, DXF (ASCII or binary)
    by its first group."""
    import filetype

    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"ISO-10303-21;"):
        return "model/step"
    if head.startswith(b"AutoCAD Binary DXF"):
        return "image/vnd.dxf"
    lines = text.split(b"\n", 2)
    if len(lines) >= 2 and lines[0].strip() == b"0" and lines[1].strip() in (b"SECTION",
                                                                           b"EOF"):
        return "image/vnd.dxf"
    return None


def attachment_limits() -> tuple[int, int]:
    """(most bytes per file, most files per booking): settings
    ``BOOKING_ATTACHMENT_MAX_BYTES`` and ``BOOKING_ATTACHMENT_MAX_COUNT``."""
    return settings.BOOKING_ATTACHMENT_MAX_BYTES, settings.BOOKING_ATTACHMENT_MAX_COUNT


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


@dataclasses.dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed ``check_upload``: its safe base name, the type its bytes show
    and its bytes."""

    name: str
    content_type: str
    data: bytes


ATTACHMENT_NAME_MAX = 200


def _attachment_name(raw: str | None) -> str:
    """The upload's own name (no folders), at most ``ATTACHMENT_NAME_MAX`` characters: a
    longer one loses the end of its stem, never its extension (which says its type)."""
    path = PurePath((raw or "").replace("\\", "/"))
    name = path.name or "file"
    if len(name) <= ATTACHMENT_NAME_MAX:
        return name
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    return name[:ATTACHMENT_NAME_MAX - len(suffix)] + suffix


def check_upload(upload) -> CheckedUpload:
    """The attachment checks, shared by every attachment (bookings, service requests): the
    extension is allowed and the bytes show that type (``ATTACHMENT_KINDS``, ``_sniff``) and
    the file is within ``attachment_limits()``. Raises ValidationFailed (field ``file``)
    otherwise. Reads the file once; stores nothing."""
    max_bytes, _count = attachment_limits()
    name = _attachment_name(upload.name)
    if upload.size is not None and upload.size > max_bytes:
        raise errors.ATTACHMENT_TOO_LARGE.error(name=name, limit=_size_text(max_bytes))
    upload.seek(0)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise errors.ATTACHMENT_TOO_LARGE.error(name=name, limit=_size_text(max_bytes))
    expected = ATTACHMENT_KINDS.get(PurePath(name.lower()).suffix)
    if expected is None or not data or _sniff(data[:_SNIFF_BYTES]) != expected:
        raise errors.ATTACHMENT_TYPE.error(name=name)
    return CheckedUpload(name=name, content_type=expected, data=data)


def save_checked_upload(attachment, checked: CheckedUpload):
    """Writes ``checked`` into ``attachment`` (an unsaved attachment row with a ``file``
    field and name/content_type/size/sha256 fields) and saves it; the stored file is
    removed again when the row cannot be written (no orphan file)."""
    attachment.name = checked.name
    attachment.content_type = checked.content_type
    attachment.size = len(checked.data)
    attachment.sha256 = hashlib.sha256(checked.data).hexdigest()
    attachment.file.save(checked.name, ContentFile(checked.data), save=False)
    try:
        attachment.save()
    except Exception:
        attachment.file.delete(save=False)  # no orphan file for a row never written
        raise
    return attachment


def attach_file(*, booking_id: int, organization: Organization, upload, by_user=None,
                ) -> BookingAttachment:
    """The SME attaches a file (``upload``: a Django UploadedFile) to its requested or
    confirmed booking. Refused (ValidationFailed, field ``file``, nothing stored) unless it
    passes ``check_upload`` and the booking holds fewer files than the limit. Stored under
    MEDIA_ROOT with a random name."""
    max_count = attachment_limits()[1]
    booking = (bookings_actable_by(organization).filter(pk=booking_id)
               .select_related("equipment__hub").first())
    if booking is None:
        raise errors.BOOKING_NOT_FOUND.error()
    if "owner" not in _actor_roles(booking, organization):
        raise errors.NOT_ALLOWED.error(extra={"allowed": ["owner"]})
    checked = check_upload(upload)
    with transaction.atomic():
        locked = db.locked_one(Booking.objects.filter(pk=booking.pk), of=("self",))
        if locked is None:
            raise errors.BOOKING_NOT_FOUND.error()
        if locked.status not in ATTACHABLE:
            raise errors.ATTACHMENTS_CLOSED.error()
        if locked.attachments.count() >= max_count:
            raise errors.ATTACHMENT_LIMIT.error(limit=max_count)
        return save_checked_upload(BookingAttachment(booking=locked, uploaded_by=by_user),
                                   checked)


def rotate_organization_feed(*, organization: Organization, by_user=None) -> CalendarFeed:
    """The organisation's calendar subscription URL, new: its earlier organisation-wide
    feeds stop working (a leaked URL is revoked by making a new one). A person doing it
    (``by_user``, the portal) must be one of the organisation's administrators."""
    from organizations.errors import NOT_ADMIN
    from organizations.models import Membership

    from .feeds import services as feed_services

    if by_user is not None and not Membership.objects.filter(
            organization=organization, user=by_user, role=Membership.Role.ADMIN).exists():
        raise NOT_ADMIN.error()
    with transaction.atomic():
        for feed in db.locked(CalendarFeed.objects.filter(
                organization=organization, equipment__isnull=True, revoked_at__isnull=True)):
            feed_services.revoke_feed(feed=feed)
        return feed_services.create_feed(organization=organization)
