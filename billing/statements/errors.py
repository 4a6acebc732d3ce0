"""The error codes of statements (see ``core.errors``): each defined once with its status,
field and translated message."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, NotFound, ValidationFailed, define
from organizations.errors import NOT_OPERATOR

NOT_AN_OPERATOR = NOT_OPERATOR
STATEMENT_NOT_FOUND = define("statement_not_found", NotFound, _("No such statement."))
STATEMENT_RACE = define(
    "statement_race", Conflict,
    _("Another statement run for this operator finished first; run it again to see what "
      "is left."))
MONTH_INVALID = define("statement_month_invalid", ValidationFailed,
                       _("Give the month as YYYY-MM, e.g. 2026-11."), field="month")
MONTH_IN_FUTURE = define("statement_month_in_future", ValidationFailed,
                         _("A month that has not started yet cannot be stated."),
                         field="month")
