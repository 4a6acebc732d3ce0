"""Service requests (issue 16, part 2): an SME asks a hub for a staff-assisted trial, the
hub's operator answers with an offer (a ``pricing`` quote of kind ``offer``), and the SME
accepts it — which books every piece of equipment in one transaction, each through the
booking rules (``bookings.services.create_booking``), all or nothing — declines it, or
lets it expire.

Statuses: submitted → quoted → accepted | declined | expired; submitted or quoted →
refused (by the hub, with a reason) | withdrawn (by the SME); submitted → expired (nobody
answered before the preferred period ended).

Every change locks the request's row (``core.db.locked_one``) and re-checks its status
under the lock; the e-mails it owes are queued in the outbox in the same transaction
(``notifications``). Who may act is read (unlocked) first: another tenant's request is
"not found" before any lock is waited for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from billing.models import ServiceRequest, ServiceRequestAttachment
from bookings import services as booking_services
from bookings.models import Booking
from core import db
from core.errors import Busy, DomainError, NotFound, ValidationFailed, Violation, valid_id
from core.validators import validate_period
from equipment.models import Equipment, Hub
from equipment.services import lock_equipment
from organizations.errors import NOT_OPERATOR, NOT_SME
from organizations.models import Organization
from pricing.models import Quote, QuoteLine

from . import errors, notifications
from .selectors import request_for, roles

R = ServiceRequest.Status
MAX_EQUIPMENT = 5
TITLE_MAX_LENGTH = 200
PLAN_MAX_LENGTH = 10_000
REASON_MAX_LENGTH = 2000
# Fields of a refusal that are the caller's own input to ``accept_offer`` (a grant that is
# not theirs, a bad shortfall choice): reported as they are, not as a piece that could not
# be booked.
ACCEPT_INPUT_FIELDS = frozenset({"grant", "grant_id", "voucher_grant", "shortfall",
                                 "if_voucher_short"})


# --- attachments: the bookings' checks -------------------------------------------------------


def _store(service_request: ServiceRequest, checked: booking_services.CheckedUpload,
           by_user) -> ServiceRequestAttachment:
    return booking_services.save_checked_upload(
        ServiceRequestAttachment(request=service_request, uploaded_by=by_user), checked)


# --- the SME asks ----------------------------------------------------------------------------


def _hub(hub_slug: str | None, hub_id) -> Hub | None:
    if hub_slug:
        return Hub.objects.select_related("operator").filter(slug=hub_slug).first()
    pk = valid_id(hub_id)
    return Hub.objects.select_related("operator").filter(pk=pk).first() if pk else None


def _request_violations(*, hub: Hub | None, title: str, plan: str, equipment_ids,
                        preferred_start: datetime, now: datetime) -> tuple[list[Violation],
                                                                              list[int]]:
    """Every broken rule of a new request at once, and the wanted equipment's ids."""
    violations: list[Violation] = []
    if hub is None:
        violations.append(errors.HUB_UNKNOWN.violation())
    if not title or len(title) > TITLE_MAX_LENGTH:
        violations.append(errors.TITLE_REQUIRED.violation(limit=TITLE_MAX_LENGTH))
    if not plan or len(plan) > PLAN_MAX_LENGTH:
        violations.append(errors.PLAN_REQUIRED.violation())
    ids = list(dict.fromkeys(valid_id(i) for i in equipment_ids or ()))
    if not 1 <= len(ids) <= MAX_EQUIPMENT:
        violations.append(errors.EQUIPMENT_COUNT.violation(limit=MAX_EQUIPMENT))
    elif hub is not None:
        found = set(Equipment.objects.filter(hub=hub, pk__in=[i for i in ids if i])
                    .exclude(status=Equipment.Status.RETIRED).values_list("pk", flat=True))
        missing = [str(i or "?") for i in ids if i not in found]
        if missing:
            violations.append(errors.EQUIPMENT_NOT_AT_HUB.violation(
                ids=", ".join(f"#{i}" for i in missing)))
    if preferred_start < now:
        violations.append(errors.START_IN_PAST.violation())
    return violations, [i for i in ids if i]


def submit_request(*, organization: Organization, title: str, plan: str,
                   equipment_ids: Iterable, preferred_start: datetime,
                   preferred_end: datetime, hub_slug: str | None = None, hub_id=None,
                   uploads: Sequence = (), by_user=None,
                   now: datetime | None = None) -> ServiceRequest:
    """An SME asks ``hub`` (by slug or id) for a staff-assisted trial with 1 to 5 pieces of
    its equipment (none retired) in its preferred period, with files (``uploads``, checked
    as booking attachments are). Raises ValidationFailed with every broken rule (nothing
    stored), Forbidden when the organisation is not an SME. The hub's operator is
    e-mailed."""
    if organization is None or organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    validate_period(preferred_start, preferred_end, fields=("preferred_start", "preferred_end"))
    now = now or timezone.now()
    title, plan = (title or "").strip(), (plan or "").strip()
    hub = _hub(hub_slug, hub_id)
    violations, ids = _request_violations(hub=hub, title=title, plan=plan,
                                          equipment_ids=equipment_ids,
                                          preferred_start=preferred_start, now=now)
    max_count = booking_services.attachment_limits()[1]
    if len(uploads) > max_count:
        violations.append(errors.REQUEST_ATTACHMENT_LIMIT.violation(field="file",
                                                                    limit=max_count))
    if violations:
        raise ValidationFailed(violations, gettext_lazy("The service request is not valid."))
    # all checked before any write
    checked = [booking_services.check_upload(upload) for upload in uploads]
    with transaction.atomic():
        service_request = ServiceRequest.objects.create(
            organization=organization, hub=hub, requested_by=by_user, title=title, plan=plan,
            preferred_start=preferred_start, preferred_end=preferred_end)
        service_request.equipment.set(ids)
        for upload in checked:
            _store(service_request, upload, by_user)
        notifications.announce(service_request, R.SUBMITTED)
    return service_request


def attach_file(*, request_id: int, organization: Organization, upload,
                by_user=None) -> ServiceRequestAttachment:
    """The SME attaches a file to its open (submitted or quoted) request, checked as booking
    attachments are, within the same count limit. Raises ValidationFailed (field
    ``file``), NotFound for another tenant's request, Forbidden for the hub's operator,
    Conflict when the request is closed."""
    found = request_for(organization, request_id)
    if "owner" not in roles(found, organization):
        raise errors.NOT_REQUESTER.error()
    checked = booking_services.check_upload(upload)
    max_count = booking_services.attachment_limits()[1]
    with transaction.atomic():
        locked = _lock(found.pk)
        if locked.status not in ServiceRequest.OPEN:
            raise errors.REQUEST_ATTACHMENTS_CLOSED.error()
        if locked.attachments.count() >= max_count:
            raise errors.REQUEST_ATTACHMENT_LIMIT.error(limit=max_count)
        return _store(locked, checked, by_user)


def _lock(pk: int) -> ServiceRequest:
    locked = db.locked_one(ServiceRequest.objects.select_related("hub", "organization", "offer")
                           .filter(pk=pk), of=("self",))
    if locked is None:
        raise errors.REQUEST_NOT_FOUND.error()
    return locked


def _status_text(service_request: ServiceRequest) -> str:
    return str(service_request.get_status_display()).lower()


# --- the operator answers ------------------------------------------------------------------


def _as_operator(request_id, operator: Organization) -> ServiceRequest:
    found = request_for(operator, request_id)
    if "operator" not in roles(found, operator):
        if operator.kind != Organization.Kind.FLAGSHIP:
            raise NOT_OPERATOR.error()
        raise errors.NOT_HUB_OPERATOR.error()
    return found


def _offer_violations(service_request: ServiceRequest, periods, valid_until: datetime,
                      now: datetime) -> list[Violation]:
    wanted = {e.pk: e for e in service_request.equipment.all()}
    given = [valid_id(equipment_id) for equipment_id, _s, _e in periods]
    violations = []
    strangers = sorted({str(i or "?") for i in given if i not in wanted}
                       | {str(i) for i in given if given.count(i) > 1})
    if strangers:
        violations.append(errors.PERIOD_NOT_REQUESTED.violation(
            ids=", ".join(f"#{i}" for i in strangers)))
    missing = [e.name for pk, e in wanted.items() if pk not in given]
    if missing:
        violations.append(errors.PERIOD_MISSING.violation(names=", ".join(missing)))
    for _equipment_id, start, end in periods:
        try:
            validate_period(start, end, fields=("periods", "periods"))
        except ValidationFailed as exc:
            violations.extend(exc.violations)
            break
        if start < now:
            violations.append(errors.PERIOD_IN_PAST.violation())
            break
    if valid_until is None or timezone.is_naive(valid_until) or valid_until <= now:
        violations.append(errors.VALID_UNTIL_PAST.violation())
    return violations


def send_offer(*, request_id: int, operator: Organization,
               periods: Sequence[tuple[int, datetime, datetime]], items: Sequence = (),
               note: str = "", valid_until: datetime, by_user=None,
               now: datetime | None = None) -> ServiceRequest:
    """The hub's operator answers a submitted request with an offer: one period per
    requested piece of equipment (``periods``: (equipment id, start, end)), priced
    staff-assisted from the hub's rate card, with ``items`` (consumables and materials:
    ``(code, quantity)`` pairs of the hub's rate card), a note and a validity. The request
    becomes quoted and the SME is e-mailed. Raises ValidationFailed with every broken rule,
    NotFound for a request not at the operator's hubs, Forbidden for the SME, Conflict
    when the request is not submitted."""
    from pricing import services as pricing_services

    now = now or timezone.now()
    found = _as_operator(request_id, operator)
    periods = [(equipment_id, start, end) for equipment_id, start, end in periods]
    violations = _offer_violations(found, periods, valid_until, now)
    if violations:
        raise ValidationFailed(violations, gettext_lazy("The offer is not valid."))
    with transaction.atomic():
        locked = _lock(found.pk)
        if locked.status != R.SUBMITTED:
            raise errors.NOT_SUBMITTED.error(status=_status_text(locked))
        wanted = {e.pk: e for e in locked.equipment.select_related("hub", "category")}
        offer = pricing_services.create_offer(
            hub=locked.hub, organization=locked.organization,
            periods=[(wanted[valid_id(e)], s, t) for e, s, t in periods], assisted=True,
            items=items, note=(note or "").strip(), valid_until=valid_until, by_user=by_user)
        locked.offer, locked.status = offer, R.QUOTED
        locked.save(update_fields=["offer", "status", "updated"])
        notifications.announce(locked, R.QUOTED)
    # Read back: the offer as stored (its lines a queryset again).
    return ServiceRequest.objects.select_related("hub", "organization", "offer").get(
        pk=locked.pk)


def refuse_request(*, request_id: int, operator: Organization, reason: str, by_user=None,
                   now: datetime | None = None) -> ServiceRequest:
    """The hub's operator turns down an open request (an open offer with it), saying why;
    the SME is e-mailed the reason."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise errors.REASON_REQUIRED.error()
    found = _as_operator(request_id, operator)
    return _close(found.pk, to=R.REFUSED, offer_to=Quote.Status.EXPIRED, reason=reason,
                  by_user=by_user, now=now)


def _as_requester(request_id, organization: Organization) -> ServiceRequest:
    found = request_for(organization, request_id)
    if "owner" not in roles(found, organization):
        raise errors.NOT_REQUESTER.error()
    return found


def withdraw_request(*, request_id: int, organization: Organization, reason: str = "",
                     by_user=None, now: datetime | None = None) -> ServiceRequest:
    """The SME withdraws its open request (and declines an open offer with it)."""
    found = _as_requester(request_id, organization)
    return _close(found.pk, to=R.WITHDRAWN, offer_to=Quote.Status.DECLINED,
                  reason=(reason or "").strip()[:REASON_MAX_LENGTH], by_user=by_user, now=now)


def decline_offer(*, request_id: int, organization: Organization, reason: str = "",
                  by_user=None, now: datetime | None = None) -> ServiceRequest:
    """The SME declines the open offer; the request is closed as declined."""
    found = _as_requester(request_id, organization)
    return _close(found.pk, to=R.DECLINED, offer_to=Quote.Status.DECLINED,
                  reason=(reason or "").strip()[:REASON_MAX_LENGTH], by_user=by_user, now=now,
                  needs_offer=True)


def _close(pk: int, *, to: str, offer_to: str, reason: str, by_user, now,
           needs_offer: bool = False) -> ServiceRequest:
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(pk)
        if needs_offer and locked.status != R.QUOTED:
            raise errors.NO_OPEN_OFFER.error(status=_status_text(locked))
        if locked.status not in ServiceRequest.OPEN:
            raise errors.NOT_OPEN.error(status=_status_text(locked))
        _settle_offer(locked, offer_to, now)
        locked.status, locked.reason = to, reason
        locked.decided_by, locked.decided_at = by_user, now
        locked.save(update_fields=["status", "reason", "decided_by", "decided_at", "updated"])
        notifications.announce(locked, to)
    return locked


def _settle_offer(service_request: ServiceRequest, status: str, now: datetime) -> None:
    """The request's offer, if still open, moves to ``status``."""
    if service_request.offer_id is None:
        return
    Quote.objects.filter(pk=service_request.offer_id, status=Quote.Status.OPEN).update(
        status=status, decided_at=now)


# --- the SME accepts: every piece booked, or none ---------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One booking an offer makes: an equipment's period and the offer lines it keeps."""

    equipment: Equipment
    start: datetime
    end: datetime
    lines: list[QuoteLine]


def pieces(offer: Quote) -> list[Piece]:
    """The bookings an offer makes, in the order of its lines: one per equipment, for the
    period of its lines; lines with no equipment (items, a set-up of the whole request) go
    with the first."""
    lines = list(offer.lines.select_related("equipment", "equipment__hub", "item")
                 .order_by("position"))
    by_equipment: dict[int, list[QuoteLine]] = {}
    loose = []
    for quote_line in lines:
        if quote_line.equipment_id is None:
            loose.append(quote_line)
        else:
            by_equipment.setdefault(quote_line.equipment_id, []).append(quote_line)
    result = []
    for equipment_lines in by_equipment.values():
        timed = [x for x in equipment_lines if x.start and x.end]
        result.append(Piece(
            equipment=equipment_lines[0].equipment,
            start=min(x.start for x in timed) if timed else offer.start,
            end=max(x.end for x in timed) if timed else offer.end,
            lines=list(equipment_lines)))
    if result and loose:
        first = result[0]
        result[0] = Piece(first.equipment, first.start, first.end, first.lines + loose)
    return result


def _period_text(piece: Piece) -> str:
    tz_name = piece.equipment.hub.timezone
    tz = ZoneInfo(tz_name)
    s, e = piece.start.astimezone(tz), piece.end.astimezone(tz)
    tail = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%Y-%m-%d %H:%M}"
    return f"{s:%Y-%m-%d %H:%M}–{tail} ({tz_name})"


def _refusal(piece: Piece, exc: DomainError) -> DomainError:
    """What the SME is told when ``piece`` could not be booked: which equipment, when and
    the booking rules' own words; the original refusal in ``extra['refusal']``."""
    if isinstance(exc, ValidationFailed):
        why = " ".join(v.message for v in exc.violations) or exc.message
        detail = {"code": exc.violations[0].code if exc.violations else exc.code,
                  "detail": why, "errors": exc.field_errors()}
    else:
        why = exc.message
        detail = {"code": exc.code, "detail": why, **exc.extra}
    if why and not why.rstrip().endswith((".", "。", "!", "?")):
        why += "."
    return errors.OFFER_NOT_BOOKABLE.error(
        extra={"equipment": piece.equipment.pk, "equipment_name": piece.equipment.name,
               "start": piece.start.isoformat(), "end": piece.end.isoformat(),
               "refusal": detail},
        equipment=piece.equipment.name, period=_period_text(piece), why=why)


def _purpose(service_request: ServiceRequest) -> str:
    return f"SR-{service_request.pk} {service_request.title}\n\n{service_request.plan}"


def accept_offer(*, request_id: int, organization: Organization, grant_id: int | None = None,
                 shortfall: str = Quote.Shortfall.SME_PAYS, by_user=None,
                 now: datetime | None = None) -> list[Booking]:
    """The SME accepts the open offer: in ONE transaction every piece of equipment is
    booked for its offered period through ``bookings.services.create_booking`` (each
    through every booking rule, at the offer's prices, the voucher ``grant_id`` applied as
    ``shortfall`` says). Any refusal rolls everything back — nothing booked, the offer
    still open — and is raised as a Conflict naming the piece and why
    (``offer_not_bookable``; the booking rules' refusal in ``extra['refusal']``); a refusal
    of the caller's own input (the grant) is raised as it is. On success the offer is
    accepted, the request accepted with its bookings linked, and the operator e-mailed.
    Returns the bookings, in the offer's order."""
    now = now or timezone.now()
    found = _as_requester(request_id, organization)
    with transaction.atomic():
        locked = _lock(found.pk)
        if locked.status != R.QUOTED or locked.offer is None:
            raise errors.NO_OPEN_OFFER.error(status=_status_text(locked))
        offer = locked.offer
        if offer.status != Quote.Status.OPEN:
            raise errors.NO_OPEN_OFFER.error(status=_status_text(locked))
        if offer.valid_until is not None and offer.valid_until <= now:
            tz = ZoneInfo(locked.hub.timezone)
            raise errors.OFFER_EXPIRED.error(
                date=f"{offer.valid_until.astimezone(tz):%Y-%m-%d %H:%M} ({locked.hub.timezone})")
        planned = pieces(offer)
        # Every equipment row locked first, in id order (the order all booking use cases
        # follow), so that the grant rows each booking then locks are never waited for
        # while holding one equipment and wanting another (no deadlock with single
        # bookings of these machines).
        for equipment_id in sorted({p.equipment.pk for p in planned}):
            lock_equipment(equipment_id)
        bookings = [_book(locked, piece, organization=organization, grant_id=grant_id,
                          shortfall=shortfall, by_user=by_user, now=now)
                    for piece in planned]
        Quote.objects.filter(pk=offer.pk).update(status=Quote.Status.ACCEPTED, decided_at=now)
        locked.status, locked.decided_by, locked.decided_at = R.ACCEPTED, by_user, now
        locked.save(update_fields=["status", "decided_by", "decided_at", "updated"])
        locked.bookings.set(bookings)
        notifications.announce(locked, R.ACCEPTED)
    return bookings


def _book(service_request: ServiceRequest, piece: Piece, *, organization, grant_id,
          shortfall, by_user, now) -> Booking:
    try:
        return booking_services.create_booking(
            equipment_id=piece.equipment.pk, organization=organization, start=piece.start,
            end=piece.end, purpose=_purpose(service_request), by_user=by_user, now=now,
            grant_id=grant_id, shortfall=shortfall, origin_lines=piece.lines, assisted=True)
    except (Busy, NotFound):
        raise
    except ValidationFailed as exc:
        if exc.violations and all(v.field in ACCEPT_INPUT_FIELDS for v in exc.violations):
            raise
        raise _refusal(piece, exc) from exc
    except DomainError as exc:
        raise _refusal(piece, exc) from exc


# --- the sweep ------------------------------------------------------------------------------


def expire_requests(*, now: datetime | None = None) -> int:
    """Close what time has decided: quoted requests whose offer is past its validity (the
    offer expires with them), and submitted requests nobody answered before their
    preferred period ended. Each under its row lock, its status re-checked; the SME is
    e-mailed. Idempotent. Returns how many expired."""
    now = now or timezone.now()
    due = list(ServiceRequest.objects.filter(
        status=R.QUOTED, offer__valid_until__lte=now).values_list("pk", flat=True)) + list(
        ServiceRequest.objects.filter(status=R.SUBMITTED, preferred_end__lte=now)
        .values_list("pk", flat=True))
    expired = 0
    for pk in due:
        with transaction.atomic():
            locked = db.locked_one(ServiceRequest.objects.select_related("offer", "hub")
                                   .filter(pk=pk), of=("self",))
            if locked is None or not _is_due(locked, now):
                continue
            _settle_offer(locked, Quote.Status.EXPIRED, now)
            locked.status, locked.decided_at = R.EXPIRED, now
            locked.save(update_fields=["status", "decided_at", "updated"])
            notifications.announce(locked, R.EXPIRED)
            expired += 1
    return expired


def _is_due(service_request: ServiceRequest, now: datetime) -> bool:
    if service_request.status == R.QUOTED:
        valid_until = service_request.offer.valid_until if service_request.offer else None
        return valid_until is not None and valid_until <= now
    return service_request.status == R.SUBMITTED and service_request.preferred_end <= now
