"""The error codes of the catalog: hubs, equipment, maintenance, qualifications (see
``core.errors``): each defined once with its status, field and translated message."""

from django.utils.translation import gettext_lazy as _

from core.errors import Forbidden, NotFound, ValidationFailed, define

NOT_STAFF = define("not_staff", Forbidden,
                   _("Only platform staff may act without an organisation."))
NOT_HUB_OPERATOR = define("not_hub_operator", Forbidden,
                          _("Only the operator of this hub may do this."))
EQUIPMENT_NOT_FOUND = define("equipment_not_found", NotFound, _("No such equipment."),
                             field="equipment")
HUB_NOT_FOUND = define("hub_not_found", NotFound, _("No such hub among those you operate."),
                       field="hub")
NOT_EDITABLE = define("not_editable", ValidationFailed, _("This field cannot be changed."))
