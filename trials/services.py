"""Trial use cases: open a trial when a booking is confirmed, collect its results from
the equipment, accept uploads, summarise.

Collection is idempotent and safe to run concurrently: the network fetch happens outside
any transaction; the load happens in one transaction under the trial's row lock, which
re-checks the status, replaces whatever an earlier failed run left and marks the trial
collected. Two workers at once: the second finds it collected and does nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from bookings import services as booking_services
from bookings.models import Booking
from core import db
from equipment.sources import COLLECTED
from organizations.errors import NOT_OPERATOR
from organizations.models import Organization

from . import errors, ingest, notifications, observed
from .models import ResultFile, Trial
from .parsing import ResultFormatError, Row
from .sources import Payload, SourceError, TransientSourceError, source_for
from .usage import Usage

logger = logging.getLogger(__name__)
T = Trial.Status


def open_trial(*, booking: Booking) -> Trial:
    """Called in the transaction that confirms the booking."""
    return db.insert(Trial(booking=booking))


def close_trial(*, booking: Booking) -> None:
    """The booking was cancelled or lapsed before the trial ran: nothing to collect."""
    Trial.objects.filter(booking=booking, measurement_count=0).exclude(
        status=T.COLLECTED).delete()


@dataclass(frozen=True)
class Outcome:
    status: str
    measurements: int = 0
    detail: str = ""


def _claim(trial_id: int) -> Trial | None:
    """Mark the trial as being collected and count the attempt; None if already done."""
    with transaction.atomic():
        trial = (Trial.objects.select_for_update(of=("self",))
                 .select_related("booking__equipment__category", "booking__equipment__hub")
                 .filter(pk=trial_id).first())
        if trial is None or trial.status == T.COLLECTED:
            return None
        trial.status = T.COLLECTING
        trial.attempts += 1
        trial.save(update_fields=["status", "attempts", "updated"])
        return trial


def _replace_measurements(trial: Trial, payload: Payload | None = None, *,
                          rows: Iterable[Row] | None = None, gaps: list | None = None) -> int:
    """Load the payload's rows (or ``rows``) in place of the trial's, summarise, mark
    collected; ``gaps`` (when given) are the periods without readings. Caller holds the
    transaction and the trial's row lock; raises ResultFormatError."""
    if rows is None:
        count = ingest.store_results(trial, payload.data, payload.content_type)
    else:
        count = ingest.store_measurements(trial, rows)
    trial.summary = ingest.summarize(trial)
    trial.measurement_count = count
    trial.status = T.COLLECTED
    trial.collected_at = timezone.now()
    trial.last_error = ""
    fields = ["summary", "measurement_count", "status", "collected_at", "last_error", "updated"]
    if gaps is not None:
        trial.gaps = gaps
        fields.append("gaps")
    trial.save(update_fields=fields)
    notifications.trial_collected(trial)
    return count


def _load(trial_id: int, payload: Payload | None = None, *, rows=None, gaps=None,
          usage: Usage | None = None) -> Outcome:
    """Replace the trial's measurements with the payload's (or ``rows``), all or nothing;
    with the booking's usage evidence when the source has a state signal."""
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial_id)
        if trial.status == T.COLLECTED:
            return Outcome(T.COLLECTED, trial.measurement_count, "already collected")
        count = _replace_measurements(trial, payload, rows=rows, gaps=gaps)
        if usage is not None:
            booking_services.record_usage(booking_id=trial_id, **usage._asdict())
    return Outcome(T.COLLECTED, count)


def record_failure(*, trial_id: int, error: str, final: bool) -> None:
    """Note why an attempt failed; ``final`` marks the trial failed (no more retries)."""
    Trial.objects.filter(pk=trial_id).exclude(status=T.COLLECTED).update(
        status=T.FAILED if final else T.PENDING, last_error=error[:2000],
        updated=timezone.now())


SOURCE_FORMAT_ERROR = gettext_lazy(
    "The result source's answer is not valid results (expected CSV with the header "
    "timestamp,metric,value,unit, or a JSON list); details are in the service log.")


def collect_trial_results(*, trial_id: int) -> Outcome:
    """Fetch the trial's results from its equipment's source and load them.

    Raises TransientSourceError for the task to retry; a permanent problem (bad data,
    no source) marks the trial failed with a readable reason."""
    trial = _claim(trial_id)
    if trial is None:
        return Outcome(T.COLLECTED, detail="nothing to do")
    booking = trial.booking
    equipment = booking.equipment
    if equipment.result_source_kind in COLLECTED:
        try:
            return observed.collect(trial_id, booking, equipment, load=_load)
        except TransientSourceError:
            raise
        except SourceError as exc:
            record_failure(trial_id=trial_id, error=str(exc), final=True)
            return Outcome(T.FAILED, detail=str(exc))
    fetch = source_for(equipment.result_source_kind)
    if fetch is None:
        record_failure(trial_id=trial_id, final=True,
                       error=gettext("This equipment has no result source; the operator "
                                     "uploads results."))
        return Outcome(T.FAILED, detail="no source")
    try:
        payload = fetch(equipment, *observed.window(booking))  # to its completion
        return _load(trial_id, payload)
    except TransientSourceError:
        raise
    except SourceError as exc:  # our own words (sources never quote the gateway)
        record_failure(trial_id=trial_id, error=str(exc), final=True)
        return Outcome(T.FAILED, detail=str(exc))
    except ResultFormatError as exc:
        # The parser quotes the answer; the operator and the SME read last_error, so they
        # get our words only and staff find the detail in the log.
        logger.warning("Trial %s: the result source's answer is unusable: %s", trial_id, exc)
        error = gettext(SOURCE_FORMAT_ERROR)
        record_failure(trial_id=trial_id, error=error, final=True)
        return Outcome(T.FAILED, detail=error)


# Files an operator may attach to a trial (tables, reports, images, CAD models, archives),
# by extension, each with the content types that fit it. Anything else (HTML, SVG,
# scripts, executables) is refused: these files are handed back to the SME later.
RESULT_FILE_TYPES: dict[str, frozenset[str]] = {
    ".csv": frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"}),
    ".json": frozenset({"application/json", "text/plain"}),
    ".txt": frozenset({"text/plain"}),
    ".pdf": frozenset({"application/pdf"}),
    ".png": frozenset({"image/png"}),
    ".jpg": frozenset({"image/jpeg"}),
    ".jpeg": frozenset({"image/jpeg"}),
    ".zip": frozenset({"application/zip", "application/x-zip-compressed"}),
    ".stl": frozenset({"model/stl", "application/sla", "application/vnd.ms-pki.stl"}),
    ".step": frozenset({"model/step", "application/step"}),
    ".stp": frozenset({"model/step", "application/step"}),
}
# What clients send when they do not know the type; the extension decides then.
UNTYPED = frozenset({"", "application/octet-stream"})
TABLE_TYPES = ("text/csv", "application/json", "application/csv")


def check_result_file(*, filename: str, content_type: str) -> None:
    """Raises ValidationFailed (field ``file``) unless the allow-list above takes it."""
    extension = Path(filename.lower()).suffix
    media = content_type.split(";")[0].strip().lower()
    allowed = RESULT_FILE_TYPES.get(extension)
    if allowed is None or (media not in allowed and media not in UNTYPED):
        raise errors.FILE_TYPE_NOT_ALLOWED.error(
            extension=extension or gettext("no extension"),
            media=media or gettext("no content type"),
            allowed=", ".join(sorted(RESULT_FILE_TYPES)))


def require_results_uploader(*, trial: Trial, organization: Organization) -> None:
    """Only the operator of the trial's hub uploads its results: the SME that ran it (which
    sees the trial) is refused (403), anyone else does not see it (404)."""
    if trial.booking.equipment.hub.operator_id == organization.pk:
        return
    if trial.booking.organization_id == organization.pk:
        raise NOT_OPERATOR.error()
    raise errors.TRIAL_NOT_FOUND.error()


def upload_results(*, trial: Trial, organization: Organization, data: bytes,
                   content_type: str, filename: str | None = None, by_user=None) -> Outcome:
    """An operator's upload: CSV/JSON results are loaded (replacing earlier ones); a file
    (``filename`` given) of an allowed type is also kept as a ResultFile with its sha256."""
    require_results_uploader(trial=trial, organization=organization)
    if trial.booking.status not in (Booking.Status.CHECKED_IN, Booking.Status.COMPLETED):
        raise errors.TRIAL_NOT_STARTED.error()
    is_table = (content_type.split(";")[0].strip().lower() in TABLE_TYPES
                or (filename or "").lower().endswith((".csv", ".json")))
    if filename is not None:
        check_result_file(filename=filename, content_type=content_type)
    elif not is_table:
        raise errors.RESULTS_TYPE_NOT_ALLOWED.error()
    count = trial.measurement_count
    with transaction.atomic():
        locked = db.locked_one(Trial.objects.filter(pk=trial.pk))
        if locked is None:
            raise errors.TRIAL_NOT_FOUND.error()
        if is_table:
            try:
                count = _replace_measurements(locked, Payload(data, content_type))
            except ResultFormatError as exc:
                raise errors.RESULTS_INVALID.error(reason=str(exc)) from None
        if filename:
            _keep_file(locked, data, content_type, filename, by_user)
    return Outcome(locked.status, count)


def _keep_file(trial: Trial, data: bytes, content_type: str, filename: str, by_user) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if ResultFile.objects.filter(trial=trial, sha256=digest).exists():
        return
    stored = ResultFile(trial=trial, name=filename[:255], content_type=content_type[:100],
                        size=len(data), sha256=digest, uploaded_by=by_user)
    stored.file.save(filename, ContentFile(data), save=False)
    stored.save()


def retry_collection(*, trial: Trial) -> None:
    """Operator's 'collect now': a failed or pending trial goes back to pending."""
    Trial.objects.filter(pk=trial.pk).exclude(status=T.COLLECTED).update(
        status=T.PENDING, updated=timezone.now())
