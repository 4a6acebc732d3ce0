"""The error codes of settlement claims (see ``core.errors``): each defined once with its
status, field and translated message; the claim services fill in the parameters."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

CLAIM_NOT_FOUND = define("claim_not_found", NotFound, _("No such settlement claim."))
CLAIM_PROGRAMME_UNKNOWN = define(
    "claim_programme_unknown", ValidationFailed,
    _("No voucher programme with this id accredits any of your hubs."), field="programme")
CLAIM_BY_FIRMS = define(
    "claim_by_firms", ValidationFailed,
    _("Under this programme the firms claim the voucher share themselves, not the provider."),
    field="programme")
CLAIM_MONTH_INVALID = define(
    "claim_month_invalid", ValidationFailed,
    _("Give the month as YYYY-MM, e.g. 2026-11."), field="month")
CLAIM_EMPTY = define(
    "claim_empty", Conflict,
    _("Nothing to claim: no completed booking at your hubs in %(month)s used a voucher of "
      "this programme that is not on a claim already."))
CLAIM_DRAFT_OPEN = define(
    "claim_draft_open", Conflict,
    _("Another draft claim for this programme and month is open (SC-%(draft)s): submit it "
      "first, then reopen this one."))
CLAIM_BUSY = define(
    "claim_busy", Conflict,
    _("Other drafts of this claim are being made at the same moment; try again."))
CLAIM_ILLEGAL_TRANSITION = define(
    "claim_illegal_transition", Conflict,
    _("The claim is %(status)s: it cannot be %(target)s now."))
CLAIM_STAFF_ONLY = define(
    "claim_staff_only", Forbidden,
    _("Only platform staff record a programme office's decision on a claim."))
CLAIM_REASON_REQUIRED = define(
    "claim_reason_required", ValidationFailed,
    _("Say why the claim is rejected."), field="reason")
CLAIM_REASON_TOO_LONG = define(
    "claim_reason_too_long", ValidationFailed,
    _("At most %(limit)d characters."), field="reason")
CLAIM_PAYMENT_REFERENCE_REQUIRED = define(
    "claim_payment_reference_required", ValidationFailed,
    _("Give the payment's reference (e.g. the bank transfer's number)."),
    field="payment_reference")
CLAIM_PAYMENT_REFERENCE_TOO_LONG = define(
    "claim_payment_reference_too_long", ValidationFailed,
    _("At most %(limit)d characters."), field="payment_reference")
CLAIM_EMPTY_SUBMIT = define(
    "claim_no_lines", Conflict,
    _("The claim has no lines left to submit; refresh the draft first."))
REPORT_NOT_FOR_UNIVERSITIES = define(
    "voucher_report_forbidden", Forbidden,
    _("Voucher use is reported to hub operators and to the firms holding the vouchers."))
