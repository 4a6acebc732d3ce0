"""Pricing use cases (DESIGN.md, "Money"): pricing periods from the hub's rate card,
estimates and offers, the booking quote (with its innovation-voucher split, reserved on
the grant under its row lock) and its release.

Every amount is ``pricing.money``'s: rounded to the fen, half up, once per line; a quote's
totals are plain sums of its lines.

Concurrency: ``price_booking`` runs inside the booking's transaction, after the equipment
row lock; it then locks the SME's grants of the programme (``select_for_update``, id
order), so two bookings against one grant (or one programme's yearly cap) are split one
at a time and ``VoucherGrant.used`` always equals the voucher share of its booked quotes.
``release_quote`` takes the same grant lock (after the equipment and booking locks its
callers hold: one order everywhere).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import db
from core.errors import DomainError, ValidationFailed, Violation, valid_id
from core.validators import validate_period
from equipment.errors import EQUIPMENT_NOT_FOUND
from equipment.models import Equipment, Hub
from organizations.errors import NOT_SME
from organizations.models import Organization

from . import errors, selectors
from .models import PricedItem, Quote, QuoteLine, Unit, VoucherGrant
from .money import (
    QUOTE_LIMIT,
    WHOLE_UNITS,
    ZERO,
    fen,
    hours_between,
    is_whole,
    quantity,
    split,
)

K = QuoteLine.Kind
QUANTITY_LIMIT = Decimal("100000000")  # QuoteLine.quantity: 12 digits, 4 of them decimals
SHORTFALLS = frozenset(Quote.Shortfall.values)


@dataclasses.dataclass
class LineDraft:
    """A quote line before it is stored (the fields of ``QuoteLine``)."""

    kind: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    equipment: Equipment | None = None
    item: PricedItem | None = None
    start: datetime | None = None
    end: datetime | None = None
    voucher_share: Decimal = ZERO
    sme_share: Decimal | None = None
    position: int = 0

    def __post_init__(self):
        if self.sme_share is None:
            self.sme_share = self.amount - self.voucher_share

    @classmethod
    def of(cls, line: QuoteLine) -> LineDraft:
        """A copy of a stored line (its prices honoured), unsplit."""
        return cls(kind=line.kind, quantity=line.quantity, unit=line.unit,
                   unit_price=line.unit_price, amount=line.amount, equipment=line.equipment,
                   item=line.item, start=line.start, end=line.end)

    def as_line(self, quote: Quote) -> QuoteLine:
        return QuoteLine(quote=quote, position=self.position, kind=self.kind,
                         equipment=self.equipment, item=self.item, start=self.start,
                         end=self.end, quantity=self.quantity, unit=self.unit,
                         unit_price=self.unit_price, amount=self.amount,
                         voucher_share=self.voucher_share, sme_share=self.sme_share)


# --- pricing from the rate card ------------------------------------------------------------


def _item_refusal(code: str, qty, unit: str = "") -> Violation | None:
    try:
        ok = (QUANTITY_LIMIT > Decimal(qty) > 0  # the limit first: quantize(1e309) raises
              and Decimal(qty) == quantity(qty))
    except (InvalidOperation, TypeError, ValueError):
        ok = False
    if not ok:
        return errors.ITEM_QUANTITY.violation(code=code)
    return whole_refusal(code, qty, unit)


def whole_refusal(code: str, qty, unit: str) -> Violation | None:
    """A fractional quantity of an item counted whole (pieces, sets) is refused; the
    quote form checks its fields with this too, to show the refusal at the field."""
    if unit in WHOLE_UNITS and not is_whole(qty):
        return errors.ITEM_WHOLE.violation(code=code, unit=Unit(unit).label)
    return None


def quote_lines(*, hub: Hub, organization: Organization | None,
                periods: Sequence[tuple[Equipment, datetime, datetime]],
                assisted: bool = False, items: Iterable = (),
                include_setup: bool = True) -> list[LineDraft]:
    """The priced lines (unsplit, numbered from 1) of ``periods`` (``(equipment, start,
    end)``, equipment of ``hub``) and ``items`` (``(PricedItem or its code, quantity)``),
    from the hub's rate card valid on the first period's first day (hub time zone).
    Per period: equipment time (hours × hourly rate), the staff-assisted surcharge
    (``assisted``, when the card has one), the set-up fee (once per equipment,
    ``include_setup``, when the card has one); then the items. Equipment the card does not
    list: its own hourly rate, no surcharge or fee. Raises ValidationFailed for an item
    not on the card or a quantity that is not above zero (all at once)."""
    if not periods:
        raise errors.NO_PERIODS.error()
    first = min(start for _eq, start, _end in periods)
    day = selectors.hub_day(hub, first)
    rates = selectors.rates_on(hub, day, [equipment.pk for equipment, _s, _e in periods])
    lines: list[LineDraft] = []
    set_up: set[int] = set()
    for equipment, start, end in periods:
        rate = rates.get(equipment.pk)
        hours = hours_between(start, end)
        hourly = rate.hourly_rate if rate else equipment.hourly_rate
        lines.append(LineDraft(kind=K.USAGE, quantity=quantity(hours), unit=Unit.HOUR,
                               unit_price=hourly, amount=fen(hours * hourly),
                               equipment=equipment, start=start, end=end))
        if rate is None:
            continue
        if assisted and rate.assisted_hourly_surcharge > 0:
            surcharge = rate.assisted_hourly_surcharge
            lines.append(LineDraft(kind=K.ASSISTED, quantity=quantity(hours), unit=Unit.HOUR,
                                   unit_price=surcharge, amount=fen(hours * surcharge),
                                   equipment=equipment, start=start, end=end))
        if include_setup and rate.setup_fee > 0 and equipment.pk not in set_up:
            set_up.add(equipment.pk)
            lines.append(LineDraft(kind=K.SETUP, quantity=Decimal("1.0000"), unit=Unit.SESSION,
                                   unit_price=rate.setup_fee, amount=fen(rate.setup_fee),
                                   equipment=equipment, start=start, end=end))
    items = list(items)
    codes = [item.code if isinstance(item, PricedItem) else str(item) for item, _q in items]
    on_card = selectors.items_on(hub, day, codes) if items else {}
    problems: list[Violation] = []
    for item, qty in items:
        code = item.code if isinstance(item, PricedItem) else str(item)
        priced = on_card.get(code)
        if priced is None or (isinstance(item, PricedItem) and item.pk != priced.pk):
            problems.append(errors.ITEM_NOT_ON_CARD.violation(code=code))
            continue
        refusal = _item_refusal(code, qty, priced.unit)
        if refusal is not None:
            problems.append(refusal)
            continue
        qty = quantity(qty)
        lines.append(LineDraft(kind=K.ITEM, quantity=qty, unit=priced.unit,
                               unit_price=priced.unit_price, amount=fen(qty * priced.unit_price),
                               item=priced))
    if problems:
        raise ValidationFailed(problems)
    _check_size(lines)
    for position, line in enumerate(lines, start=1):
        line.position = position
    return lines


def _check_size(lines: Sequence[LineDraft]) -> None:
    """Refuses (ValidationFailed) lines whose total reaches ``QUOTE_LIMIT`` (a period
    of centuries at a high rate, an absurd quantity): at the period's end when the time
    alone reaches it, else at the items."""
    if sum((line.amount for line in lines), ZERO) < QUOTE_LIMIT:
        return
    timed = sum((line.amount for line in lines if line.kind != K.ITEM), ZERO)
    field = "end" if timed >= QUOTE_LIMIT else "items"
    raise ValidationFailed([errors.QUOTE_TOO_LARGE.violation(
        field=field, limit=f"{QUOTE_LIMIT:,.0f}")])


# --- vouchers ------------------------------------------------------------------------------


def grant_refusal(grant: VoucherGrant, *, organization: Organization, hub: Hub,
                  equipment: Sequence[Equipment], start: datetime) -> Violation | None:
    """Why ``grant`` cannot pay a share of a booking at ``hub`` on ``equipment`` starting
    at ``start``, or None: not the SME's, revoked, the first day (hub time zone) outside
    the grant's or the programme's validity, the hub not an accredited provider, an
    equipment category not covered, the SME affiliated with the hub's operator."""
    programme = grant.programme
    if grant.organization_id != organization.pk:
        return errors.VOUCHER_GRANT_UNKNOWN.violation()
    if grant.revoked_at is not None:
        return errors.VOUCHER_GRANT_REVOKED.violation()
    day = selectors.hub_day(hub, start)
    valid_from = max(grant.valid_from, programme.valid_from)
    valid_until = min(grant.valid_until, programme.valid_until)
    if not valid_from <= day <= valid_until:
        return errors.VOUCHER_GRANT_NOT_VALID.violation(
            valid_from=valid_from.isoformat(), valid_until=valid_until.isoformat(),
            day=day.isoformat())
    if not programme.providers.filter(pk=hub.pk).exists():
        return errors.VOUCHER_PROVIDER_NOT_ACCREDITED.violation(hub=hub.name)
    covered = set(programme.categories.values_list("pk", flat=True))
    if covered:
        for piece in equipment:
            if piece.category_id not in covered:
                name = piece.category.name if piece.category_id else "—"
                return errors.VOUCHER_CATEGORY_NOT_COVERED.violation(category=name)
    if selectors.affiliated(organization, hub.operator_id):
        return errors.VOUCHER_AFFILIATED.violation()
    return None


def voucher_room(grant: VoucherGrant, *, organization: Organization, hub: Hub,
                 start: datetime, exclude_quote_id: int | None = None) -> Decimal:
    """What the caps still allow one booking starting at ``start`` to take from ``grant``:
    the least of the grant's remaining amount, the programme's cap per use and what is
    left of its cap per firm for the calendar year of ``start`` (hub time zone). Exact
    only under the grant lock (``price_booking``); a preview otherwise."""
    programme = grant.programme
    room = grant.amount - grant.used
    if programme.cap_per_use is not None:
        room = min(room, programme.cap_per_use)
    year = selectors.hub_day(hub, start).year
    used = selectors.voucher_used_in_year(programme_id=programme.pk, organization=organization,
                                          year=year, tz_name=hub.timezone,
                                          exclude_quote_id=exclude_quote_id)
    room = min(room, programme.cap_per_sme_year - used)
    return max(fen(room), ZERO)


def apply_split(lines: list[LineDraft], *, share: Decimal | None,
                room: Decimal | None) -> tuple[Decimal, Decimal]:
    """Split ``lines`` in place (``share`` None: no voucher, all the SME's). Returns (the
    voucher total, the share the voucher should pay without caps)."""
    if share is None:
        for line in lines:
            line.voucher_share, line.sme_share = ZERO, line.amount
        return ZERO, ZERO
    wanted = sum((v for v, _s in split(lines, share=share, room=None)), ZERO)
    for line, (voucher, sme) in zip(lines, split(lines, share=share, room=room), strict=True):
        line.voucher_share, line.sme_share = voucher, sme
    return sum((line.voucher_share for line in lines), ZERO), wanted


def _write(quote: Quote, lines: list[LineDraft]) -> Quote:
    """Store ``quote`` with its totals (the sums of ``lines``) and its lines (two
    statements: this is on the booking path; queued inside ``db.batched_inserts``); the lines stay
    cached on the quote."""
    quote.total = sum((line.amount for line in lines), ZERO)
    quote.voucher_total = sum((line.voucher_share for line in lines), ZERO)
    quote.sme_total = sum((line.sme_share for line in lines), ZERO)
    db.insert(quote)
    stored = db.insert_all([line.as_line(quote) for line in lines])

    def cache_lines():
        cached = quote.lines.all()  # lazy: no query; filled as a prefetch would fill it
        cached._result_cache, cached._prefetch_done = stored, True
        quote._prefetched_objects_cache = {"lines": cached}

    db.when_stored(quote, cache_lines)
    return quote


def _grant_of(organization: Organization, grant_id) -> VoucherGrant | Violation:
    pk = valid_id(grant_id)
    grant = (VoucherGrant.objects.select_related("programme")
             .filter(pk=pk, organization=organization).first() if pk else None)
    return grant if grant is not None else errors.VOUCHER_GRANT_UNKNOWN.violation()


def _lock_grants(grant_id: int, organization_id: int) -> VoucherGrant | None:
    """Lock the SME's grants of ``grant_id``'s programme, in id order, and return that
    grant (None: not the SME's). Pricing and release take the same rows in the same order,
    so a reschedule (release, then price) and a booking against another grant of the
    programme never wait on each other crosswise; the caps are decided one booking at a
    time."""
    programme_id = (VoucherGrant.objects.filter(pk=grant_id, organization_id=organization_id)
                    .values_list("programme_id", flat=True).first())
    if programme_id is None:
        return None
    locked = db.locked(VoucherGrant.objects.select_related("programme").filter(
        programme_id=programme_id, organization_id=organization_id).order_by("pk"),
        of=("self",))
    return next((g for g in locked if g.pk == grant_id), None)


def _shortfall(shortfall: str) -> None:
    if shortfall not in SHORTFALLS:
        raise errors.SHORTFALL_INVALID.error()


# --- estimates and offers --------------------------------------------------------------


def create_estimate(*, organization: Organization, equipment_id: int, start: datetime,
                    end: datetime, assisted: bool = False, items: Iterable = (),
                    grant_id: int | None = None, shortfall: str = "sme_pays", by_user=None,
                    now: datetime | None = None) -> Quote:
    """An SME asks what ``[start, end)`` of an equipment would cost (with staff
    assistance, items, a voucher grant): an open estimate valid
    ``settings.QUOTE_VALIDITY_DAYS``; a booking made from it while valid keeps its prices.
    Its voucher split is a preview: nothing is reserved on the grant. Raises
    ValidationFailed (period, items, grant), Forbidden for a non-SME."""
    validate_period(start, end)
    if organization is None or organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    _shortfall(shortfall)
    now = now or timezone.now()
    pk = valid_id(equipment_id)
    equipment = (Equipment.objects.select_related("hub", "category").filter(pk=pk).first()
                 if pk else None)
    if equipment is None:
        raise ValidationFailed([EQUIPMENT_NOT_FOUND.violation()])
    hub = equipment.hub
    lines = quote_lines(hub=hub, organization=organization, periods=[(equipment, start, end)],
                        assisted=assisted, items=items)
    grant = None
    share = room = None
    if grant_id is not None:
        grant = _grant_of(organization, grant_id)
        refusal = grant if isinstance(grant, Violation) else grant_refusal(
            grant, organization=organization, hub=hub, equipment=[equipment], start=start)
        if refusal is not None:
            raise ValidationFailed([refusal])
        share = grant.programme.subsidy_share
        room = voucher_room(grant, organization=organization, hub=hub, start=start)
    apply_split(lines, share=share, room=room)
    with transaction.atomic():
        return _write(Quote(
            kind=Quote.Kind.ESTIMATE, status=Quote.Status.OPEN, hub=hub,
            organization=organization, start=start, end=end, assisted=assisted, grant=grant,
            shortfall=shortfall, created_by=by_user,
            valid_until=now + timedelta(days=settings.QUOTE_VALIDITY_DAYS)), lines)


def create_offer(*, hub: Hub, organization: Organization,
                 periods: Sequence[tuple[Equipment, datetime, datetime]],
                 assisted: bool = True, items: Iterable = (), note: str = "",
                 valid_until: datetime, by_user=None) -> Quote:
    """The operator's priced answer to a service request: an open offer for the SME over
    ``periods`` at ``hub``, no voucher split (the SME chooses a grant when accepting).
    Caller checks who may answer. Raises ValidationFailed (periods, items)."""
    if not periods:
        raise errors.NO_PERIODS.error()
    for equipment, start, end in periods:
        validate_period(start, end)
        if equipment.hub_id != hub.pk:
            raise ValidationFailed([EQUIPMENT_NOT_FOUND.violation()])
    lines = quote_lines(hub=hub, organization=organization, periods=periods,
                        assisted=assisted, items=items)
    apply_split(lines, share=None, room=None)
    with transaction.atomic():
        return _write(Quote(
            kind=Quote.Kind.OFFER, status=Quote.Status.OPEN, hub=hub, organization=organization,
            start=min(s for _e, s, _x in periods), end=max(e for _q, _s, e in periods),
            assisted=assisted, note=note, valid_until=valid_until, created_by=by_user), lines)


# --- the booking's quote -------------------------------------------------------------------


def honoured_estimate(origin: Quote | None, *, equipment: Equipment,
                       organization: Organization, start: datetime, end: datetime,
                       now: datetime) -> bool:
    """Is ``origin`` an open, unexpired estimate of this SME for exactly this equipment and
    period (its prices are then kept)?"""
    if origin is None or origin.kind != Quote.Kind.ESTIMATE:
        return False
    if origin.status != Quote.Status.OPEN or origin.organization_id != organization.pk:
        return False
    if origin.valid_until is not None and origin.valid_until <= now:
        return False
    if (origin.start, origin.end, origin.hub_id) != (start, end, equipment.hub_id):
        return False
    pieces = {line.equipment_id for line in origin.lines.all() if line.equipment_id}
    return pieces == {equipment.pk}


def moved_lines(quote: Quote, *, start: datetime, end: datetime) -> list[QuoteLine]:
    """A booking quote's lines at their prices for the booking moved to ``[start, end)``
    (unsaved, for ``price_booking(origin_lines=…)``): hourly lines (equipment time, the
    staff-assisted surcharge) count the new period's hours at the same unit price, the
    set-up fee moves with the booking, items stay; a late-cancellation fee is left out.
    What an SME was offered by the hub holds when it moves the booking."""
    hours = hours_between(start, end)
    moved = []
    for line in quote.lines.select_related("equipment", "item"):
        if line.kind == K.LATE_CANCELLATION:
            continue
        copy = QuoteLine(kind=line.kind, equipment=line.equipment, item=line.item,
                         start=line.start, end=line.end, quantity=line.quantity,
                         unit=line.unit, unit_price=line.unit_price, amount=line.amount)
        if line.start is not None:  # a line of the booked period
            copy.start, copy.end = start, end
        if line.unit == Unit.HOUR and line.kind in (K.USAGE, K.ASSISTED):
            copy.quantity, copy.amount = quantity(hours), fen(hours * line.unit_price)
        moved.append(copy)
    return moved


def price_booking(*, equipment: Equipment, organization: Organization, start: datetime,
                  end: datetime, grant_id: int | None = None, shortfall: str = "sme_pays",
                  origin: Quote | None = None, origin_lines: Sequence[QuoteLine] | None = None,
                  assisted: bool = False, by_user=None, now: datetime,
                  carry_lines: Sequence[QuoteLine] = ()) -> Quote | DomainError:
    """The booking quote of ``[start, end)`` of ``equipment`` (locked by the caller, with
    its hub) for the SME, written with its lines, its voucher share reserved on the grant.

    Lines: ``origin_lines`` copied (an accepted offer's lines for this equipment), else all
    of ``origin``'s lines when it is an open estimate of this SME for this equipment and
    period (its prices honoured; it becomes accepted), else priced anew from the rate card;
    ``carry_lines`` (a moved booking's items) are copied after them.
    The grant (``grant_id``, or the honoured estimate's) must be usable here; the SME's
    grants of its programme are then locked in id order and the lines split within the
    caps. With ``shortfall="refuse"`` a voucher that cannot cover its full share refuses
    the booking (409 ``voucher_exhausted``).

    Caller holds the transaction and the equipment lock. A refusal is returned, not
    raised, before anything is written (the way ``create_booking`` decides)."""
    if shortfall not in SHORTFALLS:
        return errors.SHORTFALL_INVALID.error()
    hub = equipment.hub
    honoured = None
    origin_id = origin.pk if origin is not None else None
    if origin_lines is not None:
        lines = [LineDraft.of(line) for line in origin_lines if line.kind != K.LATE_CANCELLATION]
        if origin_id is None and origin_lines:
            origin_id = origin_lines[0].quote_id
    elif honoured_estimate(origin, equipment=equipment, organization=organization,
                            start=start, end=end, now=now):
        honoured = origin
        lines = [LineDraft.of(line) for line in origin.lines.all()
                 if line.kind != K.LATE_CANCELLATION]
        assisted = origin.assisted
        if grant_id is None and origin.grant_id is not None:
            grant_id, shortfall = origin.grant_id, origin.shortfall
    else:
        lines = quote_lines(hub=hub, organization=organization,
                            periods=[(equipment, start, end)], assisted=assisted)
    lines += [LineDraft.of(line) for line in carry_lines]
    for position, line in enumerate(lines, start=1):
        line.position = position
    grant = None
    share = room = None
    if grant_id is not None:
        found = _grant_of(organization, grant_id)
        if isinstance(found, Violation):
            return ValidationFailed([found])
        grant = _lock_grants(found.pk, organization.pk)
        if grant is None:
            return ValidationFailed([errors.VOUCHER_GRANT_UNKNOWN.violation()])
        refusal = grant_refusal(grant, organization=organization, hub=hub,
                                equipment=[equipment], start=start)
        if refusal is not None:
            return ValidationFailed([refusal])
        share = grant.programme.subsidy_share
        room = voucher_room(grant, organization=organization, hub=hub, start=start)
    voucher_total, wanted = apply_split(lines, share=share, room=room)
    if grant is not None and shortfall == Quote.Shortfall.REFUSE and voucher_total < wanted:
        return errors.VOUCHER_EXHAUSTED.error(
            extra={"voucher_covered": f"{voucher_total:.2f}", "voucher_wanted": f"{wanted:.2f}"},
            covered=f"{voucher_total:.2f}", wanted=f"{wanted:.2f}")
    if honoured is not None:
        Quote.objects.filter(pk=honoured.pk, status=Quote.Status.OPEN).update(
            status=Quote.Status.ACCEPTED, decided_at=now)
    quote = _write(Quote(
        kind=Quote.Kind.BOOKING, status=Quote.Status.BOOKED, hub=hub,
        organization=organization, origin_id=origin_id, start=start, end=end,
        assisted=assisted, grant=grant, shortfall=shortfall, created_by=by_user,
        decided_at=now), lines)
    if grant is not None and voucher_total:
        grant.used += voucher_total
        grant.save(update_fields=["used"])
    return quote


def release_quote(quote: Quote, *, late_fee: Decimal = ZERO, now: datetime) -> Quote:
    """A booking quote's booking was cancelled, rejected or missed: the quote is released
    and its voucher share returned to the grant (under the grant's row lock); a late
    cancellation's fee (``late_fee`` > 0) is added as a line the SME alone pays (the
    totals stay the sums of all lines). A quote already released is left as it is.
    Caller holds the transaction (and the booking's locks)."""
    with transaction.atomic(savepoint=False):
        current = db.locked_one(Quote.objects.filter(pk=quote.pk), of=("self",))
        if current is None or current.status != Quote.Status.BOOKED:
            return current or quote
        if current.grant_id is not None and current.voucher_total:
            grant = _lock_grants(current.grant_id, current.organization_id)
            grant.used -= current.voucher_total
            grant.save(update_fields=["used"])
        current.status = Quote.Status.RELEASED
        current.decided_at = now
        fields = ["status", "decided_at"]
        late_fee = fen(late_fee)
        if late_fee > 0:
            last = current.lines.order_by("-position").values_list("position", flat=True).first()
            QuoteLine.objects.create(
                quote=current, position=(last or 0) + 1, kind=K.LATE_CANCELLATION,
                quantity=Decimal("1.0000"), unit=Unit.SESSION, unit_price=late_fee,
                amount=late_fee, voucher_share=ZERO, sme_share=late_fee)
            current.total += late_fee
            current.sme_total += late_fee
            fields += ["total", "sme_total"]
        current.save(update_fields=fields)
    quote.status, quote.decided_at = current.status, current.decided_at
    quote.total, quote.sme_total = current.total, current.sme_total
    return current


def expire_quotes(*, now: datetime | None = None) -> int:
    """Open estimates and offers past their validity become expired. Returns how many."""
    now = now or timezone.now()
    return (Quote.objects.filter(kind__in=(Quote.Kind.ESTIMATE, Quote.Kind.OFFER),
                                 status=Quote.Status.OPEN, valid_until__lte=now)
            .update(status=Quote.Status.EXPIRED, decided_at=now))
