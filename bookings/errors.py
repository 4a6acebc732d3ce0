"""The error codes of bookings (see ``core.errors``): the booking policy's violations,
with the messages that name the equipment's own limits, and the lifecycle's refusals.
Each is defined once with its status, field and translated message; the policy check or
service that knows the equipment fills in the parameters."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define
from organizations.errors import NOT_OPERATOR

# The booking policy (bookings.policy): one code per rule.
EQUIPMENT_UNAVAILABLE = define("equipment_unavailable", ValidationFailed,
                               _("This equipment is %(status)s and cannot be booked."),
                               field="equipment")
ORGANIZATION_UNVERIFIED = define(
    "organization_unverified", ValidationFailed,
    _("Your organisation has not been verified yet. Platform staff check new organisations "
      "before they can book; you can browse and plan in the meantime."),
    field="organization")
MISALIGNED = define(
    "misaligned", ValidationFailed,
    _("Bookings start and end on %(step)s steps in the hub's time zone (%(tz)s)."),
    field="start")
TOO_SHORT = define("too_short", ValidationFailed, _("A booking lasts at least %(d)s."),
                   field="end")
TOO_LONG = define("too_long", ValidationFailed, _("A booking lasts at most %(d)s."),
                  field="end")
LEAD_TIME = define("lead_time", ValidationFailed, _("Book at least %(d)s before the start."),
                   field="start")
START_IN_PAST = LEAD_TIME.variant(_("The start is in the past."))  # no lead time
TOO_FAR_AHEAD = define("too_far_ahead", ValidationFailed,
                       _("Bookings open %(days)d days ahead at most."), field="start")
OUTSIDE_OPENING_HOURS = define(
    "outside_opening_hours", ValidationFailed,
    _("The hub is closed during part of this period; see its opening hours."), field="start")
MAINTENANCE = define("maintenance", ValidationFailed,
                     _("The equipment is under maintenance during part of this period."),
                     field="start")
TRIAL_LEAD_REQUIRED = define(
    "trial_lead_required", ValidationFailed,
    _("This equipment needs a qualified trial lead: choose who runs the trial."),
    field="trial_lead")
QUALIFICATION_REQUIRED = define(
    "qualification_required", ValidationFailed,
    _("The trial lead holds no valid qualification for this equipment."), field="trial_lead")
OPEN_BOOKINGS_LIMIT = define(
    "open_bookings_limit", ValidationFailed,
    _("Your organisation already holds the most open bookings allowed on this equipment "
      "(%(limit)d)."), field="equipment")

# Booking requests.
PURPOSE_REQUIRED = define("purpose_required", ValidationFailed,
                          _("Describe the trial plan (purpose)."), field="purpose")
TRIAL_LEAD_UNKNOWN = define("trial_lead_unknown", ValidationFailed,
                            _("The trial lead must be a member of your organisation."),
                            field="trial_lead")
SLOT_TAKEN = define("slot_taken", Conflict,
                    _("This slot is already taken. Pick another free slot."))
CHANGEOVER_BUFFER = define(
    "changeover_buffer", Conflict,
    _("The equipment needs %(d)s of changeover between bookings; this period is too close "
      "to another booking."))

# The lifecycle.
BOOKING_NOT_FOUND = define("booking_not_found", NotFound, _("No such booking."))
ILLEGAL_TRANSITION = define("illegal_transition", Conflict,
                            _("This booking cannot be %(target)s in its current state "
                              "(%(status)s)."))
NOT_ALLOWED = define("not_allowed", Forbidden, _("You may not do this."))
CANCEL_TOO_LATE = define("cancel_too_late", Conflict,
                         _("The booking has started; ask the hub operator to cancel it."))
CHECK_IN_NOT_OPEN = define("check_in_not_open", Conflict,
                           _("Check-in opens %(minutes)d minutes before the start."))
COMPLETE_TOO_EARLY = define("complete_too_early", Conflict,
                            _("A booking can be completed only after its start."))
MAINTENANCE_OVERLAPS_TRIAL_IN_PROGRESS = define(
    "maintenance_overlaps_trial_in_progress", Conflict,
    ngettext_lazy("Booking %(ids)s is checked in (a trial in progress) during this period; "
                  "complete it before planning maintenance over it.",
                  "Bookings %(ids)s are checked in (trials in progress) during this period; "
                  "complete them before planning maintenance over them.", "count"))

# Calendar feeds.
EQUIPMENT_FEED_NOT_OPERATOR = NOT_OPERATOR.variant(
    _("Equipment feeds are for the equipment's operator."))

# Moving bookings and their attachments.
RESCHEDULE_NOT_POSSIBLE = define(
    "reschedule_not_possible", Conflict,
    _("Only a requested or confirmed booking that has not started can be moved."))
RESCHEDULE_SAME_PERIOD = define(
    "reschedule_same_period", ValidationFailed,
    _("This is the booking's current period: choose another start or end."), field="start")
ATTACHMENT_TYPE = define(
    "attachment_type", ValidationFailed,
    _("%(name)s is not accepted: attach PDF, PNG, JPEG, STEP, DXF or ZIP files (their "
      "content must match the extension)."), field="file")
ATTACHMENT_TOO_LARGE = define(
    "attachment_too_large", ValidationFailed,
    _("%(name)s is too large: files may be at most %(limit)s."), field="file")
ATTACHMENT_LIMIT = define(
    "attachment_limit", ValidationFailed,
    _("A booking holds at most %(limit)d attachments."), field="file")
ATTACHMENTS_CLOSED = define(
    "attachments_closed", Conflict,
    _("Files can be attached while the booking is requested or confirmed."))
ATTACHMENT_NOT_FOUND = define("attachment_not_found", NotFound, _("No such attachment."))

NO_SHOW_TOO_EARLY = COMPLETE_TOO_EARLY.variant(_(
    "A booking can be marked a no-show only %(minutes)d minutes after its start, if nobody "
    "has checked in."))
RESCHEDULE_APPROVED = RESCHEDULE_NOT_POSSIBLE.variant(_(
    "The hub operator approved this booking for its period: cancel it and request the new "
    "period, or ask the hub operator."))

# A reason a person gives for a booking's move (approve, reject, cancel, check-in …).
REASON_TOO_LONG = define("booking_reason_too_long", ValidationFailed,
                         _("A reason is at most %(limit)d characters."), field="reason")
