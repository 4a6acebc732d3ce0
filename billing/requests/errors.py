"""The error codes of service requests (see ``core.errors``): each defined once with its
status, field and translated message."""

from django.utils.translation import gettext_lazy as _

from bookings.errors import ATTACHMENT_LIMIT, ATTACHMENTS_CLOSED
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

REQUEST_NOT_FOUND = define("service_request_not_found", NotFound, _("No such service request."))

# Submitting a request.
HUB_UNKNOWN = define("service_request_hub", ValidationFailed, _("Choose a hub."), field="hub")
TITLE_REQUIRED = define("service_request_title", ValidationFailed,
                        _("Give the request a short title (at most %(limit)d characters)."),
                        field="title")
PLAN_REQUIRED = define("service_request_plan", ValidationFailed,
                       _("Describe the trial plan: what the hub's staff should run, with which "
                         "parts and materials."), field="plan")
EQUIPMENT_COUNT = define("service_request_equipment_count", ValidationFailed,
                         _("Choose 1 to %(limit)d pieces of equipment."), field="equipment")
EQUIPMENT_NOT_AT_HUB = define(
    "service_request_equipment_hub", ValidationFailed,
    _("Equipment %(ids)s is not at this hub, or is retired."), field="equipment")
START_IN_PAST = define("service_request_start_past", ValidationFailed,
                       _("The preferred start is in the past."), field="preferred_start")

# The operator's offer.
NOT_HUB_OPERATOR = define("service_request_not_operator", Forbidden,
                          _("Only the hub's operator may do this."))
NOT_REQUESTER = define("service_request_not_requester", Forbidden,
                       _("Only the organisation that made the request may do this."))
NOT_OPEN = define("service_request_closed", Conflict,
                  _("This service request is %(status)s: it cannot be changed any more."))
NOT_SUBMITTED = NOT_OPEN.variant(_("This service request is %(status)s: only a submitted "
                                   "request can be answered with an offer."))
PERIOD_MISSING = define("offer_period_missing", ValidationFailed,
                        _("Give a period for every piece of equipment requested (%(names)s)."),
                        field="periods")
PERIOD_NOT_REQUESTED = define(
    "offer_period_not_requested", ValidationFailed,
    _("Equipment %(ids)s was not requested: give periods for the requested equipment only, "
      "one each."), field="periods")
PERIOD_IN_PAST = define("offer_period_past", ValidationFailed,
                        _("Offered periods must start in the future."), field="periods")
VALID_UNTIL_PAST = define("offer_valid_until", ValidationFailed,
                          _("The offer must be valid until a time in the future."),
                          field="valid_until")
REASON_REQUIRED = define("service_request_reason", ValidationFailed,
                         _("Say why the request is refused: the firm is told."), field="reason")

# The SME's answer.
NO_OPEN_OFFER = define("offer_not_open", Conflict,
                       _("There is no open offer to answer (the request is %(status)s)."))
OFFER_EXPIRED = define("offer_expired", Conflict,
                       _("The offer expired on %(date)s: ask the hub for a new one."))
OFFER_NOT_BOOKABLE = define(
    "offer_not_bookable", Conflict,
    _("%(equipment)s could not be booked for %(period)s: %(why)s Nothing was booked; the "
      "offer is still open."))

# Attachments (the checks are the bookings' own; only the words differ).
REQUEST_ATTACHMENT_LIMIT = ATTACHMENT_LIMIT.variant(
    _("A service request holds at most %(limit)d attachments."))
REQUEST_ATTACHMENTS_CLOSED = ATTACHMENTS_CLOSED.variant(
    _("Files can be attached while the request is submitted or quoted."))
