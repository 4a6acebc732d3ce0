"""Writes to the catalog. Each is a use case that checks who may do it.

Who acts: an API or portal caller acts for its organisation (``by``), which must operate
the hub concerned. Platform staff act with no organisation (``by=None``) and name
themselves with ``staff_user`` (the admin console does this); only an active staff user
passes that door, so an API caller (which has no staff user to give) keeps the operator
checks.

The equipment row lock (:func:`lock_equipment`) is the one lock behind invariant 1 and
the maintenance guarantee: every use case that reads or changes what it protects (booking
creation and transitions, maintenance windows, status changes) takes it first.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import db
from core.errors import full_clean
from core.reasons import Reason
from organizations.errors import NOT_OPERATOR
from organizations.models import Organization

from . import errors, reasons
from .models import Equipment, Hub, MaintenanceWindow, Qualification
from .signals import equipment_unavailable

FAR_FUTURE_DAYS = 3650


# --- the equipment lock ------------------------------------------------------------------

@cache
def _lock_sql(vendor: str, for_update: bool) -> str:
    bounded = db.lock_timeout_clause(vendor)
    return (f"SELECT {db.columns(Equipment, 'e')}, {db.columns(Hub, 'h')} "  # noqa: S608 - constants and model metadata only
            f"FROM {db.table(Equipment)} e JOIN {db.table(Hub)} h "
            f"ON {db.column(Hub, 'id', 'h')} = {db.column(Equipment, 'hub', 'e')} "
            f"WHERE {db.column(Equipment, 'id', 'e')} = %s" + (f" AND {bounded}" if bounded else "")
            + (" FOR UPDATE OF e" if for_update else ""))


def lock_equipment(equipment_id: int, *, timeout_ms: int | None = None) -> Equipment | None:
    """The equipment (with its hub) as committed, its row locked until the transaction
    ends; None if there is no such equipment. Waits at most ``timeout_ms`` (default
    ``settings.DB_LOCK_TIMEOUT_MS``) for the lock, then raises ``core.errors.Busy``; the
    bound is set for this transaction by the locking statement itself (no extra round
    trip), never connection-wide.

    Caller holds a transaction. Take this lock before any booking row lock of the same
    equipment (one order everywhere, so no deadlock). Written in plain SQL: booking
    creation, the API's busiest write, runs it on every call."""
    vendor = connection.vendor
    sql = _lock_sql(vendor, connection.features.has_select_for_update_of)
    params = [equipment_id]
    if db.lock_timeout_clause(vendor):
        params.append(db.lock_timeout_param(timeout_ms))
    busy = _("The equipment is busy with other changes; retry in a moment.")
    with db.busy_on_lock_timeout(busy), db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    equipment = db.instance(Equipment, row)
    equipment.hub = db.instance(Hub, row, db.width(Equipment))
    return equipment


# --- who may change the catalog ----------------------------------------------------------

def _require_operator(organization: Organization | None) -> None:
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        raise NOT_OPERATOR.error()


def _require_staff(staff_user) -> None:
    if not (getattr(staff_user, "is_active", False) and getattr(staff_user, "is_staff", False)):
        raise errors.NOT_STAFF.error()


def _require_hub_operator(hub: Hub, *, by: Organization | None, staff_user) -> None:
    """``by`` operates ``hub`` — or, with no organisation, ``staff_user`` is platform staff."""
    if by is None and staff_user is not None:
        _require_staff(staff_user)
        return
    _require_operator(by)
    if hub.operator_id != by.pk:
        raise errors.NOT_HUB_OPERATOR.error()


def _cancelled(responses) -> list:
    """The bookings the ``equipment_unavailable`` listeners say they cancelled."""
    return [booking for _receiver, answer in responses for booking in (answer or [])]


# --- hubs --------------------------------------------------------------------------------

def create_hub(*, operator: Organization, data: dict[str, Any]) -> Hub:
    _require_operator(operator)
    hub = Hub(operator=operator, **data)
    full_clean(hub)
    hub.save()
    return hub


def update_hub(*, hub: Hub, by: Organization, data: dict[str, Any]) -> Hub:
    """Change a hub's details. Its operator is fixed: bookings and their events keep a
    copy of it (each side's lists seek their own column), and the agreements, rate cards
    and statements made at the hub are that operator's."""
    _require_operator(by)
    operator = data.get("operator")
    operator_id = operator.pk if operator is not None else data.get("operator_id")
    if operator_id is not None and operator_id != hub.operator_id:
        raise errors.HUB_OPERATOR_FIXED.error()
    for key, value in data.items():
        setattr(hub, key, value)
    full_clean(hub)
    hub.save()
    return hub


# --- equipment ---------------------------------------------------------------------------

def create_equipment(*, hub: Hub, by: Organization | None, data: dict[str, Any],
                     capabilities=None, staff_user=None) -> Equipment:
    _require_hub_operator(hub, by=by, staff_user=staff_user)
    equipment = Equipment(hub=hub, **data)
    full_clean(equipment)
    with transaction.atomic():
        equipment.save()
        if capabilities is not None:
            equipment.capabilities.set(capabilities)
    return equipment


def unavailability_period(now: datetime) -> tuple[datetime, datetime]:
    """The period a status change to down or retired blocks: from now on."""
    return now, now + timezone.timedelta(days=FAR_FUTURE_DAYS)


# Reasons are recorded data (history, e-mails in both languages, webhooks), kept in one
# language whatever the actor's, as every recorded reason is.
def unavailable_reason(status: str) -> Reason:
    """The reason recorded on the bookings a status change cancels."""
    code = (reasons.EQUIPMENT_RETIRED if status == Equipment.Status.RETIRED
            else reasons.EQUIPMENT_DOWN)
    return code.of()


def update_equipment(*, equipment: Equipment, by: Organization | None, data: dict[str, Any],
                     capabilities=None, by_user=None, staff_user=None,
                     lock_timeout_ms: int | None = None) -> Equipment:
    """Change equipment the caller operates (or, as platform staff, any equipment).

    ``data`` (model field → value) is applied to the row as read under the equipment
    lock, and only its fields are written: ``equipment`` is the caller's copy, possibly
    read before a concurrent change committed (a status change, say), and none of its
    other values are written back. Returns the equipment as saved (a new instance).

    Equipment moves only between hubs of its own operator. Taking it down or retiring it
    cancels the requested and confirmed bookings from now on (through the
    ``equipment_unavailable`` signal), under the equipment lock, so no booking slips in
    between. A trial already checked in is not cancelled: taking equipment down during a
    running trial is a legitimate emergency, and the operator completes the trial. The
    returned equipment carries ``cancelled_bookings``: the ids of the bookings this
    change cancelled."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    with transaction.atomic():
        current = lock_equipment(equipment.pk, timeout_ms=lock_timeout_ms)
        if current is None:
            raise errors.EQUIPMENT_NOT_FOUND.error()
        # Again on the row as locked (its hub may have moved since the caller read it).
        _require_hub_operator(current.hub, by=by, staff_user=staff_user)
        new_hub = data.get("hub")
        if new_hub is not None and new_hub.pk != current.hub_id \
                and new_hub.operator_id != current.hub.operator_id:
            raise errors.HUB_NOT_FOUND.error()
        was = current.status
        fields = {Equipment._meta.get_field(key).name for key in data}
        for key, value in data.items():
            setattr(current, key, value)
        full_clean(current)
        current.save(update_fields=sorted(fields | {"updated"}))
        if capabilities is not None:
            current.capabilities.set(capabilities)
        cancelled = []
        if was == Equipment.Status.AVAILABLE and current.status != Equipment.Status.AVAILABLE:
            start, end = unavailability_period(timezone.now())
            cancelled = _cancelled(equipment_unavailable.send(
                sender=Equipment, equipment=current, start=start, end=end,
                reason=unavailable_reason(current.status), by=by_user or staff_user))
    current.cancelled_bookings = [b.pk for b in cancelled]
    return current


# --- maintenance -------------------------------------------------------------------------

def maintenance_reason(reason: str) -> Reason:
    """The reason recorded on the bookings a maintenance window cancels."""
    return reasons.MAINTENANCE.of(reason=reason)


def create_maintenance_window(*, equipment: Equipment, by: Organization | None, start, end,
                              reason: str, by_user=None, staff_user=None,
                              lock_timeout_ms: int | None = None) -> MaintenanceWindow:
    """Block the equipment for maintenance; the requested and confirmed bookings that
    overlap are cancelled, each with the reason recorded (and so notified). Taken under
    the equipment lock: a booking being created at the same moment either commits first
    (and is cancelled here) or sees the window (and is refused). The returned window
    carries ``cancelled_bookings``: the ids of the bookings it cancelled.

    A window over a trial in progress (a checked-in booking) is refused, whichever door:
    Conflict (409) ``maintenance_overlaps_trial_in_progress``, naming the booking. The
    same window twice (a double submit, two tabs) is one: the second is a Conflict (409)
    ``maintenance_already_planned``, decided under the lock, so two at once cannot both
    plan it."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    window = MaintenanceWindow(equipment=equipment, start=start, end=end, reason=reason,
                               created_by=by_user or staff_user)
    full_clean(window)
    with transaction.atomic():
        if lock_equipment(equipment.pk, timeout_ms=lock_timeout_ms) is None:
            raise errors.EQUIPMENT_NOT_FOUND.error()
        planned = (MaintenanceWindow.objects.filter(equipment=equipment, start=start, end=end)
                   .values_list("pk", flat=True).first())
        if planned is not None:
            raise errors.MAINTENANCE_ALREADY_PLANNED.error(extra={"window": planned},
                                                           id=planned)
        window.save()
        cancelled = _cancelled(equipment_unavailable.send(
            sender=Equipment, equipment=equipment, start=start, end=end,
            reason=maintenance_reason(reason), by=by_user or staff_user,
            refuse_in_progress=True))
    window.cancelled_bookings = [b.pk for b in cancelled]
    return window


def delete_maintenance_window(*, window: MaintenanceWindow, by: Organization | None,
                              staff_user=None, lock_timeout_ms: int | None = None) -> None:
    """Remove a maintenance window (the period becomes bookable again). Under the
    equipment lock, like every change to what bookings are checked against."""
    _require_hub_operator(window.equipment.hub, by=by, staff_user=staff_user)
    with transaction.atomic():
        lock_equipment(window.equipment_id, timeout_ms=lock_timeout_ms)
        window.delete()


# --- qualifications ----------------------------------------------------------------------

QUALIFICATION_FIELDS = ("user", "equipment", "category", "expires")


def grant_qualification(*, user, equipment: Equipment | None = None, category=None,
                        expires: datetime | None = None, by: Organization | None,
                        staff_user=None, granted_by=None) -> Qualification:
    """``user`` may run trials on ``equipment`` (or any equipment of ``category``) until
    ``expires``. An operator grants on equipment of its own hubs; only platform staff
    grant a whole category (it spans every hub)."""
    if equipment is not None:
        _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    else:
        _require_staff(staff_user)
    qualification = Qualification(user=user, equipment=equipment, category=category,
                                  expires=expires, granted_by=granted_by or staff_user)
    full_clean(qualification)
    qualification.save()
    return qualification


def update_qualification(*, qualification: Qualification, data: dict[str, Any],
                         by: Organization | None, staff_user=None) -> Qualification:
    """Change whom or what a qualification covers, or its expiry (``data`` keys among
    ``QUALIFICATION_FIELDS``); the same rules as granting, for the old and new scope."""
    scopes = [qualification.equipment]
    for key, value in data.items():
        if key not in QUALIFICATION_FIELDS:
            raise errors.NOT_EDITABLE.error(field=key)
        setattr(qualification, key, value)
    scopes.append(qualification.equipment)
    for equipment in scopes:
        if equipment is None:
            _require_staff(staff_user)
        else:
            _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    full_clean(qualification)
    qualification.save()
    return qualification


# --- qualification requests (issue 15, part 4) ------------------------------------------
# An SME member whose booking was refused for want of a qualification asks the hub's
# operator for one; the operator grants it (a Qualification, through grant_qualification)
# with an expiry, or refuses with a reason. The requester is e-mailed either way (both
# languages, through the outbox), the operator's people when a request arrives.
from django.utils.translation import gettext_lazy  # noqa: E402 - appended section

from core import outbox  # noqa: E402
from core.errors import Conflict, NotFound, ValidationFailed, define  # noqa: E402
from core.notify import bilingual, line, link, page_url, subject_line  # noqa: E402
from organizations.errors import NOT_SME  # noqa: E402

from .models import QualificationRequest  # noqa: E402

QUALIFICATION_REQUEST_OPEN = define(
    "qualification_request_open", Conflict,
    gettext_lazy("You have already asked for this qualification; the hub operator will answer."))
QUALIFICATION_REQUEST_NOT_FOUND = define(
    "qualification_request_not_found", NotFound, gettext_lazy("No such qualification request."))
QUALIFICATION_REQUEST_DECIDED = define(
    "qualification_request_decided", Conflict,
    gettext_lazy("This qualification request has already been decided."))
QUALIFICATION_REFUSAL_REASON_REQUIRED = define(
    "qualification_refusal_reason_required", ValidationFailed,
    gettext_lazy("Say why the qualification is refused: the reason is e-mailed to the requester."),
    field="reason")
QUALIFICATION_EXPIRY_PAST = define(
    "qualification_expiry_past", ValidationFailed,
    gettext_lazy("The expiry must be in the future."), field="expires")
QUALIFICATION_NOTE_TOO_LONG = define(
    "qualification_note_too_long", ValidationFailed,
    gettext_lazy("At most %(limit)d characters."), field="note")
QUALIFICATION_TEXT_MAX = 2000

R = QualificationRequest.Status


def qualification_requests_of(user) -> Any:
    """A person's own requests, newest first (the SME's page)."""
    return (QualificationRequest.objects.filter(user=user)
            .select_related("equipment__hub", "equipment__category", "decided_by"))


def qualification_requests_for_operator(organization: Organization | None) -> Any:
    """The requests for equipment of the hubs ``organization`` runs (its console queue);
    none for anyone else."""
    if organization is None or organization.kind != Organization.Kind.FLAGSHIP:
        return QualificationRequest.objects.none()
    return (QualificationRequest.objects.filter(equipment__hub__operator=organization)
            .select_related("user", "organization", "equipment__hub", "equipment__category",
                            "decided_by"))


def request_qualification(*, user, organization: Organization, equipment_id: int,
                          note: str = "", whole_category: bool = False) -> QualificationRequest:
    """``user`` (a member of the SME ``organization``) asks to be qualified on the
    equipment (or its whole category). One open request per person and equipment."""
    if organization is None or organization.kind != Organization.Kind.SME:
        raise NOT_SME.error()
    note = (note or "").strip()
    if len(note) > QUALIFICATION_TEXT_MAX:
        raise QUALIFICATION_NOTE_TOO_LONG.error(limit=QUALIFICATION_TEXT_MAX)
    equipment = (Equipment.objects.select_related("hub", "category")
                 .filter(pk=equipment_id).first())
    if equipment is None:
        raise errors.EQUIPMENT_NOT_FOUND.error()
    try:
        with transaction.atomic():
            if QualificationRequest.objects.select_for_update().filter(
                    user=user, equipment=equipment, status=R.REQUESTED).exists():
                raise QUALIFICATION_REQUEST_OPEN.error()
            request = QualificationRequest.objects.create(
                user=user, organization=organization, equipment=equipment, note=note,
                whole_category=whole_category and equipment.category_id is not None)
            _queue_request_mails(request)
    except IntegrityError as exc:
        # A concurrent request (a double submit) won: locking rows that do not exist yet
        # blocks nothing, the one-open-request constraint is the referee.
        if "qualification_request_one_open" in str(exc):
            raise QUALIFICATION_REQUEST_OPEN.error() from exc
        raise
    return request


def _decidable(request_id: int, organization: Organization | None) -> QualificationRequest:
    request = db.locked_one(qualification_requests_for_operator(organization)
                            .filter(pk=request_id), of=("self",))
    if request is None:
        raise QUALIFICATION_REQUEST_NOT_FOUND.error()
    if request.status != R.REQUESTED:
        raise QUALIFICATION_REQUEST_DECIDED.error()
    return request


def grant_qualification_request(*, request_id: int, organization: Organization,
                                expires: datetime | None, by_user=None, reason: str = "",
                                staff_user=None, now: datetime | None = None,
                                ) -> QualificationRequest:
    """The hub operator grants the request until ``expires`` (None: no expiry) through
    ``grant_qualification``: on the equipment — a request for the whole category is granted
    for the category only by platform staff (``staff_user``), since a category spans every
    hub; an operator grants it for its equipment."""
    now = now or timezone.now()
    if expires is not None and expires <= now:
        raise QUALIFICATION_EXPIRY_PAST.error()
    with transaction.atomic():
        request = _decidable(request_id, organization)
        category = request.whole_category and staff_user is not None
        qualification = grant_qualification(
            user=request.user, equipment=None if category else request.equipment,
            category=request.equipment.category if category else None, expires=expires,
            by=None if category else organization, staff_user=staff_user,
            granted_by=by_user)
        request.status, request.decided_by, request.decided_at = R.GRANTED, by_user, now
        request.expires, request.qualification = expires, qualification
        request.reason = (reason or "").strip()[:QUALIFICATION_TEXT_MAX]
        request.save(update_fields=["status", "decided_by", "decided_at", "expires",
                                    "qualification", "reason"])
        _queue_decision_mail(request)
    return request


def refuse_qualification_request(*, request_id: int, organization: Organization,
                                 reason: str, by_user=None,
                                 now: datetime | None = None) -> QualificationRequest:
    """The hub operator refuses the request; the reason is required and e-mailed."""
    reason = (reason or "").strip()
    if not reason:
        raise QUALIFICATION_REFUSAL_REASON_REQUIRED.error()
    if len(reason) > QUALIFICATION_TEXT_MAX:
        raise QUALIFICATION_NOTE_TOO_LONG.error(field="reason", limit=QUALIFICATION_TEXT_MAX)
    with transaction.atomic():
        request = _decidable(request_id, organization)
        request.status, request.decided_by = R.REFUSED, by_user
        request.decided_at, request.reason = now or timezone.now(), reason
        request.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        _queue_decision_mail(request)
    return request


def _scope(request: QualificationRequest) -> str:
    if request.whole_category and request.equipment.category_id:
        return _("%(category)s (every equipment of the category)") % {
            "category": request.equipment.category.name}
    return f"{request.equipment.name} ({request.equipment.hub.name})"


def _expiry(request: QualificationRequest) -> str:
    if request.expires is None:
        return _("no expiry")
    from zoneinfo import ZoneInfo

    tz = request.equipment.hub.timezone
    return f"{request.expires.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({tz})"


def _queue_decision_mail(request: QualificationRequest) -> None:
    """The requester hears the decision, in both languages, once per decision."""
    if not request.user.email:
        return

    def render() -> tuple[str, str]:
        granted = request.status == R.GRANTED
        headline = _("Qualification granted") if granted else _("Qualification refused")
        lines = [headline, "", line(_("Equipment"), _scope(request))]
        if granted:
            lines.append(line(_("Valid until"), _expiry(request)))
            lines.append(_("You may now be named trial lead for bookings of it."))
        if request.reason:
            lines.append(line(_("Reason"), request.reason))
        lines += link(page_url("bookings:qualifications"))
        return subject_line(headline, request.equipment.name), "\n".join(lines)

    subject, body = bilingual(render)
    outbox.queue_email(event_type=f"qualification.{request.status}",
                       dedupe_key=f"qualification-request:{request.pk}:{request.status}",
                       to=request.user.email, subject=subject, body=body)


def _queue_request_mails(request: QualificationRequest) -> None:
    """The hub operator's administrators and operators hear of a new request."""
    from organizations.selectors import operator_recipients

    def render() -> tuple[str, str]:
        headline = _("Qualification requested")
        lines = [headline, "", line(_("Equipment"), _scope(request)),
                 line(_("Requested by"), f"{request.user.email} ({request.organization.name})")]
        if request.note:
            lines.append(line(_("Note"), request.note))
        lines += link(page_url("console:qualifications"))
        return subject_line(headline, request.equipment.name), "\n".join(lines)

    addresses = operator_recipients(request.equipment.hub.operator_id)
    if not addresses:
        return
    subject, body = bilingual(render)
    for address in addresses:
        outbox.queue_email(event_type="qualification.requested",
                           dedupe_key=f"qualification-request:{request.pk}:requested",
                           to=address, subject=subject, body=body)



# --- the public catalogue: photos and documents (issue 15, part 3) ----------------------
# Uploads are judged by their bytes, never by the name or type the browser claims: a photo
# must decode as a JPEG, PNG or WebP image (Pillow), and is re-encoded as a JPEG without
# its metadata (no EXIF location, nothing hidden survives) with a thumbnail for the cards;
# a document must be a PDF, and is only ever served as a download (``views.document``).
import hashlib  # noqa: E402 - appended section
import io  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

import filetype  # noqa: E402
from django.conf import settings as _settings  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.template.defaultfilters import filesizeformat  # noqa: E402
from django.utils.text import get_valid_filename  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from .models import EquipmentDocument, EquipmentPhoto  # noqa: E402

PHOTO_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
PHOTO_MAX_SIDE = 1600  # pixels, the stored photo's longer side at most
THUMBNAIL_SIZE = (480, 320)  # the catalogue card's picture, cropped to fill
PHOTO_MAX_MEGAPIXELS = 40  # larger images are refused before they are decoded
JPEG_QUALITY = 85


def photo_max_bytes() -> int:
    return getattr(_settings, "CATALOGUE_PHOTO_MAX_BYTES", 10 * 1024 * 1024)


def document_max_bytes() -> int:
    return getattr(_settings, "CATALOGUE_DOCUMENT_MAX_BYTES", 20 * 1024 * 1024)


def _read_limited(upload, limit: int) -> bytes:
    """The upload's bytes, refused (nothing read beyond the limit) when empty or too big."""
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise errors.UPLOAD_TOO_LARGE.error(size=filesizeformat(size),
                                            limit=filesizeformat(limit))
    upload.seek(0)
    data = upload.read(limit + 1)
    if not data:
        raise errors.UPLOAD_EMPTY.error()
    if len(data) > limit:
        raise errors.UPLOAD_TOO_LARGE.error(size=filesizeformat(len(data)),
                                            limit=filesizeformat(limit))
    return data


def _found(kind) -> str:
    return kind.mime if kind is not None else _("not a known file type")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def reencode_photo(upload) -> tuple[bytes, bytes, int, int]:
    """(photo JPEG, thumbnail JPEG, width, height) from an uploaded image, or
    ValidationFailed (field ``file``) saying what is wrong with it. Writes nothing."""
    data = _read_limited(upload, photo_max_bytes())
    kind = filetype.guess(data)
    if kind is None or kind.mime not in PHOTO_TYPES:
        raise errors.PHOTO_TYPE_NOT_ALLOWED.error(found=_found(kind))
    unreadable = errors.PHOTO_UNREADABLE.error(megapixels=PHOTO_MAX_MEGAPIXELS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:  # the header only
                if probe.format not in PHOTO_TYPES.values() and probe.format != "MPO":
                    raise errors.PHOTO_TYPE_NOT_ALLOWED.error(found=probe.format or "?")
                width, height = probe.size
                if width * height > PHOTO_MAX_MEGAPIXELS * 1_000_000:
                    raise unreadable
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA") or (image.mode == "P"
                                                    and "transparency" in image.info):
                    rgba = image.convert("RGBA")
                    image = Image.new("RGB", rgba.size, "white")
                    image.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    image = image.convert("RGB")
    except ValidationFailed:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise unreadable from None
    image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
    thumbnail = ImageOps.fit(image, THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    return _jpeg(image), _jpeg(thumbnail), image.width, image.height


def add_equipment_photo(*, equipment: Equipment, by: Organization | None, upload,
                        caption_en: str = "", caption_zh_hans: str = "", position: int = 0,
                        by_user=None, staff_user=None) -> EquipmentPhoto:
    """A photo of equipment the caller operates (or, as platform staff, any), re-encoded
    with its thumbnail. A refused upload stores nothing."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    image, thumbnail, width, height = reencode_photo(upload)
    photo = EquipmentPhoto(equipment=equipment, width=width, height=height, position=position,
                           caption_en=caption_en or None,
                           caption_zh_hans=caption_zh_hans or None,
                           uploaded_by=by_user or staff_user)
    full_clean(photo, exclude=["image", "thumbnail"])
    photo.image.save("photo.jpg", ContentFile(image), save=False)
    photo.thumbnail.save("thumbnail.jpg", ContentFile(thumbnail), save=False)
    try:
        photo.save()
    except Exception:
        for stored in (photo.image, photo.thumbnail):
            stored.storage.delete(stored.name)
        raise
    return photo


def _delete_files(*files) -> None:
    """Remove stored files once the row that named them is gone (after commit)."""
    names = [(f.storage, f.name) for f in files if f and f.name]

    def remove():
        for storage, name in names:
            storage.delete(name)

    transaction.on_commit(remove)


def delete_equipment_photo(*, photo: EquipmentPhoto, by: Organization | None,
                           staff_user=None) -> None:
    _require_hub_operator(photo.equipment.hub, by=by, staff_user=staff_user)
    _delete_files(photo.image, photo.thumbnail)
    photo.delete()


def check_document(upload) -> bytes:
    """The bytes of an uploaded PDF, or ValidationFailed (field ``file``). Writes nothing."""
    data = _read_limited(upload, document_max_bytes())
    kind = filetype.guess(data)
    if kind is None or kind.mime != "application/pdf" or not data.startswith(b"%PDF-"):
        raise errors.DOCUMENT_TYPE_NOT_ALLOWED.error(found=_found(kind))
    return data


def document_filename(title: str, uploaded_name: str) -> str:
    """A plain ASCII-safe name ending in .pdf, from the upload's name (or the title)."""
    stem = _Path(uploaded_name or "").stem or title or "document"
    return f"{get_valid_filename(stem)[:120] or 'document'}.pdf"


def add_equipment_document(*, equipment: Equipment, by: Organization | None, upload,
                           title_en: str, title_zh_hans: str = "",
                           kind: str = EquipmentDocument.Kind.DATASHEET, by_user=None,
                           staff_user=None) -> EquipmentDocument:
    """A PDF (datasheet, safety rules…) of equipment the caller operates (or, as platform
    staff, any). A refused upload stores nothing."""
    _require_hub_operator(equipment.hub, by=by, staff_user=staff_user)
    data = check_document(upload)
    document = EquipmentDocument(
        equipment=equipment, kind=kind, title_en=title_en, title_zh_hans=title_zh_hans or None,
        filename=document_filename(title_en, getattr(upload, "name", "")), size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), uploaded_by=by_user or staff_user)
    full_clean(document, exclude=["file"])
    document.file.save("document.pdf", ContentFile(data), save=False)
    try:
        document.save()
    except Exception:
        document.file.storage.delete(document.file.name)
        raise
    return document


def delete_equipment_document(*, document: EquipmentDocument, by: Organization | None,
                              staff_user=None) -> None:
    _require_hub_operator(document.equipment.hub, by=by, staff_user=staff_user)
    _delete_files(document.file)
    document.delete()


# --- the catalogue's dictionary: categories, capabilities, spec labels, metric names -----
# Platform staff keep these words (both languages) in the admin console; they belong to no
# hub, so only staff change them.

def save_catalogue_word(*, word, staff_user):
    """Create or change a Category, Capability, SpecLabel or Metric (``word``, with its
    new values set); validated as the model says. Returns it saved."""
    _require_staff(staff_user)
    full_clean(word)
    word.save()
    return word


def delete_catalogue_word(*, word, staff_user) -> None:
    """Remove a dictionary entry (a category still used by equipment cannot go)."""
    _require_staff(staff_user)
    word.delete()
