"""The error codes of the money set-up (see ``core.errors``): rate cards, voucher
programmes, grants and declared affiliations. Each is defined once with its status, field
and translated message; ``pricing.setup`` raises them, every door shows them as they are."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

# Rate cards.
RATE_CARD_NOT_FOUND = define("rate_card_not_found", NotFound, _("No such rate card."))
RATE_CARD_NAME_REQUIRED = define("rate_card_name_required", ValidationFailed,
                                 _("Give the rate card a name."), field="name")
RATE_CARD_DAY_TAKEN = define(
    "rate_card_day_taken", ValidationFailed,
    _("This hub already has a rate card from %(day)s; change that one or pick another day."),
    field="valid_from")
RATE_CARD_FROM_PAST = define(
    "rate_card_from_past", ValidationFailed,
    _("New prices start today (%(today)s) or later: bookings already priced keep their "
      "prices."), field="valid_from")
RATE_CARD_FROM_REQUIRED = define("rate_card_from_required", ValidationFailed,
                                 _("Give the first day the card applies."), field="valid_from")
RATE_CARD_UNTIL_BEFORE_FROM = define(
    "rate_card_until_before_from", ValidationFailed,
    _("The last day of validity cannot be before the first."), field="valid_until")
RATE_CARD_COPY_NOT_LATER = define(
    "rate_card_copy_not_later", ValidationFailed,
    _("A new card starts after the card it replaces (which starts on %(day)s)."),
    field="valid_from")
RATE_EQUIPMENT_NOT_ON_HUB = define(
    "rate_equipment_not_on_hub", ValidationFailed,
    _("This equipment is not at the rate card's hub."), field="equipment")
RATE_EQUIPMENT_TWICE = define(
    "rate_equipment_twice", ValidationFailed,
    _("This equipment is listed twice on the card."), field="equipment")
PRICE_NEGATIVE = define("price_negative", ValidationFailed,
                        _("A price cannot be negative."))
PRICE_INVALID = define("price_invalid", ValidationFailed,
                       _("Give an amount in yuan with at most two decimals, e.g. 120.50."))
ITEM_CODE_REQUIRED = define("item_code_required", ValidationFailed,
                            _("Give the item a code (letters, digits, hyphens)."),
                            field="code")
ITEM_CODE_TWICE = define("item_code_twice", ValidationFailed,
                         _("Two items on the card have the code %(code)s."), field="code")
ITEM_NAME_REQUIRED = define("item_name_required", ValidationFailed,
                            _("Give the item's name in English and Chinese."),
                            field="name_en")
ITEM_IN_USE = define(
    "item_in_use", ValidationFailed,
    _("%(code)s is on quotes already and stays on this card; to stop selling it, start a "
      "new card without it."), field="code")

# Voucher programmes.
NOT_PLATFORM_STAFF = define("not_platform_staff", Forbidden,
                            _("Only platform staff may do this."))
PROGRAMME_NOT_FOUND = define("programme_not_found", NotFound, _("No such voucher programme."),
                             field="programme")
PROGRAMME_UNTIL_BEFORE_FROM = define(
    "programme_until_before_from", ValidationFailed,
    _("The programme cannot end before it starts."), field="valid_until")
PROGRAMME_SHARE_RANGE = define(
    "programme_share_range", ValidationFailed,
    _("The subsidy share is more than 0 and at most 1 (e.g. 0.5 for 50 %%)."),
    field="subsidy_share")
PROGRAMME_REFERENCE_TAKEN = define(
    "programme_reference_taken", ValidationFailed,
    _("Another programme has this reference."), field="reference")
PROGRAMME_GRANTS_OUTSIDE = define(
    "programme_grants_outside", ValidationFailed,
    _("Grants of this programme run from %(first)s to %(last)s: the programme's validity must "
      "cover them."), field="valid_from")
PROVIDER_NOT_A_HUB = define(
    "provider_not_a_hub", ValidationFailed,
    _("Accredited providers are hubs."), field="providers")

# Voucher grants.
GRANT_NOT_FOUND = define("grant_not_found", NotFound, _("No such voucher grant."),
                         field="voucher_grant")
GRANT_SME_ONLY = define("grant_sme_only", ValidationFailed,
                        _("Vouchers are granted to SMEs only."), field="organization")
GRANT_AMOUNT_POSITIVE = define("grant_amount_positive", ValidationFailed,
                               _("The amount must be more than ¥0."), field="amount")
GRANT_UNTIL_BEFORE_FROM = define(
    "grant_until_before_from", ValidationFailed,
    _("The grant cannot end before it starts."), field="valid_until")
GRANT_OUTSIDE_PROGRAMME = define(
    "grant_outside_programme", ValidationFailed,
    _("The grant must lie within the programme's validity (%(first)s to %(last)s)."),
    field="valid_from")
GRANT_REFERENCE_TAKEN = define(
    "grant_reference_taken", ValidationFailed,
    _("This programme already has a grant with this reference number."),
    field="reference_number")
GRANT_REFERENCE_REQUIRED = define(
    "grant_reference_required", ValidationFailed,
    _("Give the number on the issuer's grant notice."), field="reference_number")
GRANT_ALREADY_REVOKED = define("grant_already_revoked", Conflict,
                               _("This grant was revoked already."))
REVOCATION_REASON_REQUIRED = define(
    "revocation_reason_required", ValidationFailed,
    _("Say why the grant is revoked."), field="reason")

# Affiliations.
AFFILIATION_NOT_FOUND = define("affiliation_not_found", NotFound, _("No such affiliation."))
AFFILIATION_SELF = define("affiliation_self", ValidationFailed,
                          _("An organisation cannot be affiliated with itself."),
                          field="affiliate")
AFFILIATION_EXISTS = define(
    "affiliation_exists", ValidationFailed,
    _("These two organisations already have a current declared affiliation."),
    field="affiliate")
AFFILIATION_KIND = define("affiliation_kind", ValidationFailed,
                          _("Choose ownership or control."), field="kind")
AFFILIATION_ALREADY_ENDED = define("affiliation_already_ended", Conflict,
                                   _("This affiliation has ended already."))
