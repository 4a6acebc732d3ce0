"""The error codes of trials, results and data sharing (see ``core.errors``): each defined
once with its status, field and translated message."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, define

# Trials and their results.
TRIAL_NOT_FOUND = define("trial_not_found", NotFound, _("No such trial."))
TRIAL_NOT_STARTED = define(
    "trial_not_started", Conflict,
    _("Results can be uploaded once the trial has started (checked in)."))
FILE_REQUIRED = define("file_required", ValidationFailed, _("Attach the results as 'file'."),
                       field="file")
FILE_TYPE_NOT_ALLOWED = define(
    "file_type_not_allowed", ValidationFailed,
    _("Files of this type (%(extension)s, %(media)s) are not accepted; allowed: "
      "%(allowed)s."), field="file")
RESULTS_EMPTY = define("results_empty", ValidationFailed, _("The upload is empty."),
                       field="results")
RESULTS_TYPE_NOT_ALLOWED = define(
    "results_type_not_allowed", ValidationFailed,
    _("Send results as text/csv or application/json, or attach a file as 'file' "
      "(multipart/form-data)."), field="results")
RESULTS_INVALID = define("results_invalid", ValidationFailed,
                         _("The results cannot be read: %(reason)s"), field="results")

# Sharing agreements.
AGREEMENT_NOT_FOUND = define("agreement_not_found", NotFound, _("No such agreement."))
AGREEMENT_REVOKED = define("agreement_revoked", Conflict,
                           _("A revoked agreement cannot change."))
UNKNOWN_UNIVERSITY = define("unknown_university", ValidationFailed,
                            _("No university with this slug."), field="university")
UNKNOWN_HUB = define("unknown_hub", ValidationFailed,
                     _("No hub with this slug among the hubs you run."), field="hub")
UNKNOWN_CATEGORY = define("unknown_category", ValidationFailed,
                          _("Unknown categories: %(categories)s."), field="categories")
NO_CATEGORY = UNKNOWN_CATEGORY.variant(_("Name at least one equipment category."))

# Consent.
AGREEMENT_NOT_APPLICABLE = define(
    "agreement_not_applicable", ValidationFailed,
    _("This agreement does not cover this trial any more (it may have ended)."),
    field="agreement")
NOT_TRIAL_OWNER = define("not_trial_owner", Forbidden,
                         _("Only the SME that ran the trial may decide on sharing."))
CONSENT_NOT_FOUND = define("consent_not_found", NotFound, _("No such consent."))
CONSENT_NEEDS_ADMIN = define(
    "consent_needs_admin", Forbidden,
    _("Only an administrator of your organisation decides on sharing trial results."))
STANDING_CONSENT_NEEDS_ADMIN = CONSENT_NEEDS_ADMIN.variant(
    _("Only an administrator of your organisation decides on standing consent."))
REVOKING_NEEDS_ADMIN = CONSENT_NEEDS_ADMIN.variant(
    _("Only an administrator of your organisation revokes a consent."))

# Releases.
RELEASE_NOT_FOUND = define("release_not_found", NotFound, _("No such release."))
RELEASE_SETTLED = define("release_settled", Conflict,
                         _("This release is %(status)s; there is nothing to retry."))

# Result sources ("test connection").
SOURCE_NOT_TESTABLE = define(
    "result_source_not_testable", Conflict,
    _("This equipment has no result source to test (its results are uploaded)."))
SOURCE_TEST_UNAVAILABLE = SOURCE_NOT_TESTABLE.variant(
    _("Testing a %(kind)s source is not available on this server yet."))
