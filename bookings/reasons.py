"""The reasons the platform writes into a booking's history (``core.reasons``)."""

from django.utils.translation import gettext_lazy as _

from core.reasons import define

NO_CHECK_IN = define("no_check_in", _("No check-in within %(minutes)s minutes of the start."))
NOT_APPROVED_IN_TIME = define("not_approved_in_time", _("Not approved before its start."))
CHECKED_IN_BY_MACHINE = define("checked_in_by_machine",
                               _("Checked in automatically: the machine became active."))
APPROVED_IN_ADMIN = define("approved_in_admin", _("Approved in the admin console by %(user)s"))
REJECTED_IN_ADMIN = define("rejected_in_admin", _("Rejected in the admin console by %(user)s"))
CANCELLED_IN_ADMIN = define("cancelled_in_admin",
                            _("Cancelled in the admin console by %(user)s"))
