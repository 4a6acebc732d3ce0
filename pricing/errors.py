"""The error codes of pricing (see ``core.errors``): quotes, rate-card items and the use of
innovation-voucher grants. Each is defined once with its status, field and translated
message; the service that knows the grant or the item fills in the parameters."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, NotFound, ValidationFailed, define

# Quotes.
QUOTE_NOT_FOUND = define("quote_not_found", NotFound, _("No such quote."))
QUOTE_UNKNOWN = define(
    "quote_unknown", ValidationFailed,
    _("No such estimate among your organisation's quotes."), field="quote")
ITEM_NOT_ON_CARD = define(
    "item_not_on_rate_card", ValidationFailed,
    _("%(code)s is not on this hub's rate card for the period."), field="items")
ITEM_QUANTITY = define(
    "item_quantity", ValidationFailed,
    _("Give a quantity above zero for %(code)s."), field="items")
ITEM_WHOLE = define(
    "item_quantity_whole", ValidationFailed,
    _("%(code)s is sold by the %(unit)s: give a whole number."), field="items")
SHORTFALL_INVALID = define(
    "if_voucher_short_invalid", ValidationFailed,
    _("Choose sme_pays or refuse."), field="if_voucher_short")
QUOTE_TOO_LARGE = define(
    "quote_too_large", ValidationFailed,
    _("This comes to ¥%(limit)s or more, more than one quote can hold: ask for less at a "
      "time."), field="items")
NO_PERIODS = define("quote_no_periods", ValidationFailed,
                    _("Give at least one piece of equipment and period."), field="equipment")

# Innovation vouchers: why a grant cannot be used for this booking (field voucher_grant).
VOUCHER_NOT_FOUND = define("voucher_not_found", NotFound, _("No such voucher grant."))
VOUCHER_GRANT_UNKNOWN = define(
    "voucher_grant_unknown", ValidationFailed,
    _("No such voucher grant among your organisation's grants."), field="voucher_grant")
VOUCHER_GRANT_REVOKED = define(
    "voucher_grant_revoked", ValidationFailed,
    _("This voucher grant was revoked."), field="voucher_grant")
VOUCHER_GRANT_NOT_VALID = define(
    "voucher_grant_not_valid", ValidationFailed,
    _("The voucher is valid from %(valid_from)s to %(valid_until)s; the booking's first day "
      "(%(day)s) is outside it."), field="voucher_grant")
VOUCHER_PROVIDER_NOT_ACCREDITED = define(
    "voucher_provider_not_accredited", ValidationFailed,
    _("%(hub)s is not an accredited provider of this voucher programme."),
    field="voucher_grant")
VOUCHER_CATEGORY_NOT_COVERED = define(
    "voucher_category_not_covered", ValidationFailed,
    _("This voucher programme does not cover %(category)s equipment."), field="voucher_grant")
VOUCHER_AFFILIATED = define(
    "voucher_affiliated", ValidationFailed,
    _("Your organisation is affiliated with this hub's operator, so the voucher cannot be "
      "used here."), field="voucher_grant")
VOUCHER_EXHAUSTED = define(
    "voucher_exhausted", Conflict,
    _("The voucher can cover only ¥%(covered)s of the ¥%(wanted)s it should pay for this "
      "booking (what is left of the grant or the programme's caps); you asked to refuse the "
      "booking in that case. Nothing was booked."))
