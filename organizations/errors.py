"""The error codes of organisations, memberships and invitations (see ``core.errors``):
each defined once with its status, field and translated message."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

NOT_SME = define("not_sme", Forbidden, _("Only SMEs may do this."))
NOT_OPERATOR = define("not_operator", Forbidden,
                      _("Only hub operators (flagship firms) may do this."))
NOT_ADMIN = define("not_admin", Forbidden,
                   _("Only your organisation's administrators may do this."))
WRONG_ORGANIZATION_KIND = define("wrong_organization_kind", Forbidden,
                                 _("This is for %(kinds)s organisations."))

SUSPENSION_REASON_REQUIRED = define("suspension_reason_required", ValidationFailed,
                                    _("Say why the organisation is suspended."), field="reason")
SUSPENSION_REASON_TOO_LONG = define("suspension_reason_too_long", ValidationFailed,
                                    _("At most %(limit)d characters."), field="reason")

# Signing up a new SME.
ORGANIZATION_NAME_REQUIRED = define(
    "organization_name_required", ValidationFailed,
    _("Give your organisation's name, or sign up with the address your organisation "
      "invited."), field="organization_name")
ORGANIZATION_REGISTERED = define(
    "organization_registered", ValidationFailed,
    _("This organisation is already registered. Ask its administrator to invite you."),
    field="credit_code")
CREDIT_CODE_LENGTH = define("credit_code_length", ValidationFailed,
                            _("A unified social credit code has 18 characters."),
                            field="credit_code")
CREDIT_CODE_CHARACTERS = define(
    "credit_code_characters", ValidationFailed,
    _("A unified social credit code uses digits and capital letters except I, O, Z, S and "
      "V."), field="credit_code")
CREDIT_CODE_REGION = define(
    "credit_code_region", ValidationFailed,
    _("Characters 3–8 of a unified social credit code are the region code (digits)."),
    field="credit_code")
CREDIT_CODE_CHECKSUM = define(
    "credit_code_checksum", ValidationFailed,
    _("The check character of this code is wrong (a character was probably mistyped)."),
    field="credit_code")

# Invitations and members.
ROLE_INVALID = define("role_invalid", ValidationFailed,
                      _("This organisation's roles are: %(roles)s."), field="role")
ALREADY_MEMBER = define("already_member", ValidationFailed,
                        _("This person is already a member of your organisation."),
                        field="email")
INVITATION_NOT_FOUND = define("invitation_not_found", NotFound, _("No such invitation."))
INVITATION_INVALID = define(
    "invitation_invalid", NotFound,
    _("This invitation is not valid any more: it was accepted, withdrawn or has expired. "
      "Ask for a new one."))
INVITATION_OTHER_EMAIL = define(
    "invitation_other_email", Forbidden,
    _("This invitation was sent to another e-mail address. Log in with that address to "
      "accept it."))
ALREADY_IN_ORGANIZATION = define(
    "already_in_organization", Conflict,
    _("You already belong to another organisation; a portal account acts for one "
      "organisation."))
MEMBER_ELSEWHERE = define(
    "member_elsewhere", ValidationFailed,
    _("This person already belongs to %(organization)s; a portal account acts for one "
      "organisation."), field="user")
MEMBER_NOT_FOUND = define("member_not_found", NotFound, _("No such member."))
LAST_ADMIN = define(
    "last_admin", Conflict,
    _("An organisation keeps at least one administrator: make another member an "
      "administrator first."))

# Platform staff refusing a verification.
REFUSAL_REASON_REQUIRED = define(
    "refusal_reason_required", ValidationFailed,
    _("Say why the organisation is not verified: the reason is e-mailed to its "
      "administrators."), field="reason")
REFUSAL_REASON_TOO_LONG = define("refusal_reason_too_long", ValidationFailed,
                                 _("At most %(limit)d characters."), field="reason")
ALREADY_VERIFIED = define("organization_already_verified", Conflict,
                          _("This organisation is already verified."))
