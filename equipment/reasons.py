"""The reasons the catalogue writes into the history of the bookings it cancels
(``core.reasons``)."""

from django.utils.translation import gettext_lazy as _

from core.reasons import define

EQUIPMENT_DOWN = define("equipment_down", _("Equipment is down."))
EQUIPMENT_RETIRED = define("equipment_retired", _("Equipment is retired."))
MAINTENANCE = define("maintenance", _("Maintenance: %(reason)s"))
