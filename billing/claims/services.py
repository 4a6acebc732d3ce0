"""Settlement claims (DESIGN.md, "Money"; issue #16): the voucher share a provider claims
from a programme for one month, one line per completed booking that used a grant of the
programme at its hubs.

Life of a claim::

    draft ──submit──> submitted ──approve──> approved ──pay──> paid
      ^                   │                     │
      └──reopen── rejected <──────reject────────┘

A month may hold several claims on a programme: once its claim is submitted, bookings
completed later go on a supplementary claim (numbered 2, 3, … in the month); at most one
of them is a draft at a time (a constraint), and a booking is on one claim only.

Operators (the provider) draft, refresh, submit and reopen; platform staff record the
programme office's decisions (approve, paid with the payment's reference, rejected with
a reason). Each move is legal only from the statuses above (409 otherwise) and is made
under the claim's row lock, so two doors (API, console, admin) never both move it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.formats import date_format

from core import db
from organizations.errors import NOT_OPERATOR
from organizations.models import Organization
from pricing.models import VoucherProgramme

from ..models import ClaimLine, SettlementClaim
from . import errors, notifications, selectors

S = SettlementClaim.Status
ZERO = Decimal("0.00")
REASON_MAX_LENGTH = 2000
REFERENCE_MAX_LENGTH = SettlementClaim._meta.get_field("payment_reference").max_length
# Tries at the month's draft when concurrent drafts and submissions keep overtaking.
DRAFT_ATTEMPTS = 3

# move → (the statuses it leaves from, the status it reaches)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({S.DRAFT}), S.SUBMITTED),
    "reopen": (frozenset({S.REJECTED}), S.DRAFT),
    "approve": (frozenset({S.SUBMITTED}), S.APPROVED),
    "pay": (frozenset({S.APPROVED}), S.PAID),
    "reject": (frozenset({S.SUBMITTED, S.APPROVED}), S.REJECTED),
}


def _require_operator(provider: Organization | None) -> Organization:
    if provider is None or provider.kind != Organization.Kind.FLAGSHIP:
        raise NOT_OPERATOR.error()
    return provider


def _require_staff(by_user) -> None:
    if by_user is None or not getattr(by_user, "is_staff", False):
        raise errors.CLAIM_STAFF_ONLY.error()


def _status_words(status: str) -> str:
    return str(S(status).label).lower()


def _locked_claim(claim_id: int, provider: Organization | None) -> SettlementClaim:
    """The claim under its row lock; a provider only reaches its own (else 'not found',
    before any lock is waited for). ``provider`` None: platform staff."""
    visible = (SettlementClaim.objects.all() if provider is None
               else selectors.claims_visible_to(provider))
    if not visible.filter(pk=claim_id).exists():
        raise errors.CLAIM_NOT_FOUND.error()
    claim = db.locked_one(SettlementClaim.objects.select_related("programme", "provider")
                          .filter(pk=claim_id), of=("self",))
    if claim is None:
        raise errors.CLAIM_NOT_FOUND.error()
    return claim


def _move(claim: SettlementClaim, move: str) -> None:
    """Caller holds the claim's row lock. Refuses a move the claim's status forbids."""
    sources, target = TRANSITIONS[move]
    if claim.status not in sources:
        raise errors.CLAIM_ILLEGAL_TRANSITION.error(
            extra={"current_status": claim.status},
            status=_status_words(claim.status), target=_status_words(target))
    claim.status = target


def _collect(claim: SettlementClaim) -> list[ClaimLine]:
    """Replace a draft's lines with what is eligible now. Caller holds the claim's lock."""
    bookings = list(selectors.eligible_bookings(provider=claim.provider,
                                                programme=claim.programme,
                                                month=claim.month, claim=claim))
    claim.lines.all().delete()
    lines = ClaimLine.objects.bulk_create([
        ClaimLine(claim=claim, booking=booking, grant=booking.quote.grant,
                  amount=booking.quote.voucher_total)
        for booking in bookings])
    claim.amount = sum((line.amount for line in lines), ZERO)
    return lines


def draft_claim(*, provider: Organization, programme_id: int, month: date,
                by_user=None) -> tuple[SettlementClaim, bool]:
    """The provider's draft claim on a programme for a month, with every eligible
    completed booking not on another claim as a line (amount: its quote's voucher share);
    returns (claim, created). Re-running it refreshes the open draft's lines; once the
    month's claim is submitted (or decided), it starts a supplementary claim (numbered 2,
    3, … in the month) with what was completed since. A claim with nothing in it is
    refused (409 ``claim_empty``) and nothing is kept."""
    provider = _require_operator(provider)
    programme = selectors.programmes_for_provider(provider).filter(pk=programme_id).first()
    if programme is None:
        raise errors.CLAIM_PROGRAMME_UNKNOWN.error()
    if programme.claimant != VoucherProgramme.Claimant.PROVIDER:
        raise errors.CLAIM_BY_FIRMS.error()
    month = selectors.first_month_day(month)
    with transaction.atomic():
        claim, created = _draft_row(programme, provider, month, by_user)
        if not _collect(claim):
            raise errors.CLAIM_EMPTY.error(month=date_format(month, "YEAR_MONTH_FORMAT"))
        claim.save(update_fields=["amount"])
    return claim, created


def _draft_row(programme: VoucherProgramme, provider: Organization, month: date,
               by_user) -> tuple[SettlementClaim, bool]:
    """The (programme, provider, month) draft under its row lock, made if there is none
    (numbered after the month's other claims); (claim, created).

    Two first drafts at once: the one-draft constraint makes the second insert wait for
    the first and fail, and the second then locks the first's row. A draft submitted
    while this waits for its lock no longer matches (the lock re-reads the row), so a new
    draft is started for what is left."""
    drafts = SettlementClaim.objects.select_related("programme", "provider").filter(
        programme=programme, provider=provider, month=month, status=S.DRAFT)
    month_claims = SettlementClaim.objects.filter(programme=programme, provider=provider,
                                                  month=month)
    for _attempt in range(DRAFT_ATTEMPTS):
        claim = db.locked_one(drafts, of=("self",))
        if claim is not None:
            return claim, False
        last = month_claims.aggregate(last=Max("number"))["last"] or 0
        try:
            with transaction.atomic():
                claim = SettlementClaim.objects.create(
                    programme=programme, provider=provider, month=month, number=last + 1,
                    created_by=by_user)
        except IntegrityError:
            # A concurrent draft (its row is found, locked, next time round), or a
            # concurrent claim took the number (the next one is read again).
            continue
        return claim, True
    raise errors.CLAIM_BUSY.error()


def submit_claim(*, claim_id: int, provider: Organization, by_user=None,
                 now=None) -> SettlementClaim:
    """The provider sends its draft to the programme office: draft → submitted."""
    provider = _require_operator(provider)
    with transaction.atomic():
        claim = _locked_claim(claim_id, provider)
        _move(claim, "submit")
        if not claim.lines.exists():
            raise errors.CLAIM_EMPTY_SUBMIT.error()
        claim.submitted_at = now or timezone.now()
        # A resubmission after a rejection starts a new decision.
        claim.reason, claim.decided_at = "", None
        claim.save(update_fields=["status", "submitted_at", "reason", "decided_at"])
        notifications.claim_moved(claim, claim.submitted_at)
    return claim


def reopen_claim(*, claim_id: int, provider: Organization, by_user=None) -> SettlementClaim:
    """A rejected claim back to draft, to be refreshed and submitted again. The rejection's
    reason stays on it until it is resubmitted."""
    provider = _require_operator(provider)
    with transaction.atomic():
        claim = _locked_claim(claim_id, provider)
        _move(claim, "reopen")
        try:
            with transaction.atomic():
                claim.save(update_fields=["status"])
        except IntegrityError:  # the month's other draft (the one-draft constraint)
            other = _other_draft(claim)
            raise errors.CLAIM_DRAFT_OPEN.error(extra={"draft": other}, draft=other) from None
    return claim


def _other_draft(claim: SettlementClaim) -> int | None:
    """The id of the month's open draft on the claim's programme, other than ``claim``."""
    return (SettlementClaim.objects.filter(programme=claim.programme_id,
                                           provider=claim.provider_id, month=claim.month,
                                           status=S.DRAFT)
            .exclude(pk=claim.pk).values_list("pk", flat=True).first())


def approve_claim(*, claim_id: int, by_user, now=None) -> SettlementClaim:
    """Platform staff record the programme office's approval: submitted → approved."""
    _require_staff(by_user)
    with transaction.atomic():
        claim = _locked_claim(claim_id, None)
        _move(claim, "approve")
        claim.decided_at = now or timezone.now()
        claim.save(update_fields=["status", "decided_at"])
        notifications.claim_moved(claim, claim.decided_at)
    return claim


def mark_claim_paid(*, claim_id: int, payment_reference: str, by_user,
                    now=None) -> SettlementClaim:
    """Platform staff record the payment, with its reference: approved → paid."""
    _require_staff(by_user)
    reference = (payment_reference or "").strip()
    if not reference:
        raise errors.CLAIM_PAYMENT_REFERENCE_REQUIRED.error()
    if len(reference) > REFERENCE_MAX_LENGTH:
        raise errors.CLAIM_PAYMENT_REFERENCE_TOO_LONG.error(limit=REFERENCE_MAX_LENGTH)
    with transaction.atomic():
        claim = _locked_claim(claim_id, None)
        _move(claim, "pay")
        claim.paid_at, claim.payment_reference = now or timezone.now(), reference
        claim.save(update_fields=["status", "paid_at", "payment_reference"])
        notifications.claim_moved(claim, claim.paid_at)
    return claim


def reject_claim(*, claim_id: int, reason: str, by_user, now=None) -> SettlementClaim:
    """Platform staff record the programme office's rejection, with its reason (shown to
    the provider): submitted or approved → rejected."""
    _require_staff(by_user)
    reason = (reason or "").strip()
    if not reason:
        raise errors.CLAIM_REASON_REQUIRED.error()
    if len(reason) > REASON_MAX_LENGTH:
        raise errors.CLAIM_REASON_TOO_LONG.error(limit=REASON_MAX_LENGTH)
    with transaction.atomic():
        claim = _locked_claim(claim_id, None)
        _move(claim, "reject")
        claim.reason, claim.decided_at = reason, now or timezone.now()
        claim.save(update_fields=["status", "reason", "decided_at"])
        notifications.claim_moved(claim, claim.decided_at)
    return claim
