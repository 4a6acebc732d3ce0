"""The error codes of the catalog: hubs, equipment, maintenance, qualifications (see
``core.errors``): each defined once with its status, field and translated message."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

NOT_STAFF = define("not_staff", Forbidden,
                   _("Only platform staff may act without an organisation."))
NOT_HUB_OPERATOR = define("not_hub_operator", Forbidden,
                          _("Only the operator of this hub may do this."))
EQUIPMENT_NOT_FOUND = define("equipment_not_found", NotFound, _("No such equipment."),
                             field="equipment")
HUB_NOT_FOUND = define("hub_not_found", NotFound, _("No such hub among those you operate."),
                       field="hub")
HUB_OPERATOR_FIXED = define(
    "hub_operator_fixed", ValidationFailed,
    _("A hub stays with the operator that opened it; another operator opens its own hub."),
    field="operator")
MAINTENANCE_ALREADY_PLANNED = define(
    "maintenance_already_planned", Conflict,
    _("This maintenance window is already planned (#%(id)s)."))
NOT_EDITABLE = define("not_editable", ValidationFailed, _("This field cannot be changed."))

# The public catalogue's photos and documents (issue 15, part 3).
UPLOAD_EMPTY = define("upload_empty", ValidationFailed, _("The file is empty."), field="file")
UPLOAD_TOO_LARGE = define(
    "upload_too_large", ValidationFailed,
    _("The file is %(size)s; at most %(limit)s are accepted."), field="file")
PHOTO_TYPE_NOT_ALLOWED = define(
    "photo_type_not_allowed", ValidationFailed,
    _("A photo must be a JPEG, PNG or WebP image; this file is %(found)s."), field="file")
PHOTO_UNREADABLE = define(
    "photo_unreadable", ValidationFailed,
    _("The image could not be read: it is damaged, or larger than %(megapixels)s megapixels."),
    field="file")
DOCUMENT_TYPE_NOT_ALLOWED = define(
    "document_type_not_allowed", ValidationFailed,
    _("A document must be a PDF file; this file is %(found)s."), field="file")
