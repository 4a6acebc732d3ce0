from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core import reasons
from equipment.models import Equipment
from organizations.models import Organization

# Name of the PostgreSQL exclusion constraint (migration 0002); the service maps a
# violation of it to a 409.
NO_OVERLAP_CONSTRAINT = "booking_no_overlap"


class Booking(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        CONFIRMED = "confirmed", _("Confirmed")
        CHECKED_IN = "checked_in", _("Checked in")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        REJECTED = "rejected", _("Rejected")
        NO_SHOW = "no_show", _("No-show")

    ACTIVE = (Status.REQUESTED, Status.CONFIRMED, Status.CHECKED_IN)

    # No index of their own (equipment, organization, operator): the composite indexes
    # below lead with each of them, and every index is one more write per booking.
    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="bookings",
                                  db_index=False, verbose_name=_("equipment"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="bookings", db_index=False,
                                     verbose_name=_("organisation"),
                                     help_text=_("The booking SME."))
    # The equipment's hub's operator, copied when the booking is made: a hub stays with
    # its operator and equipment moves only between one operator's hubs, so the copy never
    # goes stale. An operator's lists seek (operator, start, id) instead of walking every
    # booking in time order and keeping its hubs'.
    operator = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False,
        db_index=False, verbose_name=_("hub operator"),
        help_text=_("The operator of the equipment's hub."))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("requested by"),
        help_text=_("Empty when booked with an API key."))
    trial_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("trial lead"),
        help_text=_("The SME member who runs the trial."))
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    blocked_until = models.DateTimeField(
        _("blocked until"),
        help_text=_("End plus the equipment's changeover buffer at booking time; no other "
                    "active booking may start before it."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.REQUESTED, db_index=True)
    purpose = models.TextField(_("purpose"), help_text=_("The trial plan."))
    price = models.DecimalField(_("price quote (CNY)"), max_digits=12, decimal_places=2)
    # The lines it was priced with (kind "booking"): voucher share and firm's share per line.
    quote = models.OneToOneField("pricing.Quote", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="booking",
                                 verbose_name=_("priced with"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # Usage evidence: from the equipment's state signal, when its source has one.
    actual_start = models.DateTimeField(
        _("actual start"), null=True, blank=True,
        help_text=_("When the machine first became active in the slot."))
    actual_end = models.DateTimeField(
        _("actual end"), null=True, blank=True,
        help_text=_("When the machine was last active in the slot."))
    actual_seconds = models.PositiveIntegerField(
        _("active seconds"), null=True, blank=True,
        help_text=_("Seconds the machine was active within the slot (its state signal)."))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["-start"]
        indexes = [
            models.Index(fields=["equipment", "start"]),
            # Cursor pages of the API list (core.pagination, ordered on start, id): an
            # SME's own bookings, an operator's (bookings.selectors.bookings_visible_to),
            # and everyone's in time order (the admin's list, newest first).
            models.Index(fields=["organization", "start", "id"], name="booking_org_start_id"),
            models.Index(fields=["operator", "start", "id"], name="booking_op_start_id"),
            models.Index(fields=["start", "id"], name="booking_start_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")),
                                   name="booking_end_after_start"),
            models.CheckConstraint(condition=Q(blocked_until__gte=models.F("end")),
                                   name="booking_blocked_until_after_end"),
        ]

    def __str__(self) -> str:
        return (f"#{self.pk} {self.equipment} {self.start:%Y-%m-%d %H:%M} "
                f"({self.get_status_display()})")


class BookingEvent(models.Model):
    """Every status change of a booking: who, when, why. Also the record of what must be
    notified (``notified_at`` empty = still to send), written in the same transaction."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events",
                                verbose_name=_("booking"))
    # The booking's SME and its hub's operator, copied when the event is recorded: a
    # booking never changes organisation, and its equipment moves only between hubs of one
    # operator. Each side's events feed seeks (organization | operator, at, id) instead of
    # walking every event in time order and dropping everyone else's.
    # No index of their own: the feeds' indexes lead with them.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False,
        db_index=False, verbose_name=_("organisation"),
        help_text=_("The organisation that made the booking (the booking's own)."))
    operator = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False,
        db_index=False, verbose_name=_("hub operator"),
        help_text=_("The operator of the booking's hub when the event was recorded."))
    code = models.CharField(_("event code"), max_length=40,
                            help_text=_("e.g. booking.approved"))
    from_status = models.CharField(_("from status"), max_length=16, blank=True)
    to_status = models.CharField(_("to status"), max_length=16)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("acting user"))
    actor_organization = models.ForeignKey(Organization, null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+",
                                           verbose_name=_("acting organisation"))
    reason = models.TextField(_("reason"), blank=True, help_text=_(
        "As typed; a reason the platform wrote is in English here and shown to each reader "
        "in their language (its code below)."))
    # A reason the platform wrote (core.reasons): its catalogue code and parameters. Both
    # have database defaults, so rows loaded with COPY or raw SQL need not name them.
    reason_code = models.CharField(_("reason code"), max_length=40, blank=True, default="",
                                   db_default="", help_text=_("e.g. no_check_in"))
    reason_args = models.JSONField(_("reason parameters"), null=True, blank=True)
    at = models.DateTimeField(_("at"))
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("booking event")
        verbose_name_plural = _("booking events")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["notified_at"], name="bookingevent_unnotified",
                         condition=Q(notified_at__isnull=True)),
            # The events feed's cursor pages (bookings.selectors.events_visible_to): keyset
            # on (organization, at, id) for an SME, (operator, at, id) for an operator;
            # (at, id) for every event in time order (the admin's list).
            models.Index(fields=["at", "id"], name="bookingevent_at_id"),
            models.Index(fields=["organization", "at", "id"], name="bookingevent_org_at_id"),
            models.Index(fields=["operator", "at", "id"], name="bookingevent_op_at_id"),
        ]

    def __str__(self) -> str:
        return f"{self.code} #{self.booking_id} {self.from_status}→{self.to_status}"

    @property
    def reason_shown(self) -> str:
        """The reason in the active language (as typed, when a person wrote it)."""
        return reasons.shown(self.reason_code, self.reason_args, self.reason)


class CalendarFeed(models.Model):
    """A secret-token iCalendar subscription URL for calendar clients (Outlook, Google
    Calendar, Apple Calendar): an organisation's bookings, or one equipment's (operator)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="calendar_feeds",
                                     verbose_name=_("organisation"))
    equipment = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="calendar_feeds", verbose_name=_("equipment"),
                                  help_text=_("Empty: every booking the organisation sees."))
    name = models.CharField(_("name"), max_length=120, blank=True)
    token = models.CharField(_("token"), max_length=64, unique=True, editable=False)
    # Calendar servers fetch without a language of their own (or their server's): the
    # feed's texts are in the language it was made in.
    language = models.CharField(
        _("language"), max_length=16, blank=True, default="", db_default="", editable=False,
        help_text=_("The language of its events' texts (the one it was made in); empty: "
                    "the one the calendar client asks for."))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name or f"Feed of {self.equipment or self.organization}"


def _attachment_path(instance: BookingAttachment, filename: str) -> str:
    """A random name under MEDIA_ROOT: the uploader's file name is kept in ``name`` only,
    never used as a path."""
    import uuid
    from pathlib import PurePath

    suffix = PurePath(filename).suffix.lower()
    return f"booking-attachments/{instance.booking_id}/{uuid.uuid4().hex}{suffix}"


class BookingAttachmentQuerySet(models.QuerySet):
    def visible_to(self, organization: Organization | None) -> BookingAttachmentQuerySet:
        """The attachments of the bookings ``organization`` sees: the SME's own, or those
        on the hubs it operates (the tenancy of ``selectors.bookings_visible_to``)."""
        if organization is None:
            return self.none()
        if organization.kind == Organization.Kind.SME:
            return self.filter(booking__organization=organization)
        if organization.kind == Organization.Kind.FLAGSHIP:
            return self.filter(booking__operator=organization)
        return self.none()


class BookingAttachment(models.Model):
    """A file the SME attaches to a booking request (drawings, a fixture's model, the trial
    plan): type-checked by its bytes, size-limited, stored under MEDIA_ROOT and only ever
    downloaded as an attachment (never shown inline)."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("booking"))
    file = models.FileField(_("file"), upload_to=_attachment_path, max_length=200)
    name = models.CharField(_("file name"), max_length=200,
                            help_text=_("The file name as uploaded."))
    content_type = models.CharField(_("content type"), max_length=100,
                                    help_text=_("The type its bytes show (not the one declared)."))
    size = models.PositiveBigIntegerField(_("size"), help_text=_("Bytes."))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    uploaded = models.DateTimeField(_("uploaded"), auto_now_add=True)

    objects = BookingAttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("booking attachment")
        verbose_name_plural = _("booking attachments")
        ordering = ["uploaded", "pk"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.booking_id})"
