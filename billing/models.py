"""Service requests, monthly statements and voucher settlement claims (DESIGN.md, "Money").

Layering: ``billing`` sits above ``trials`` (it reads bookings, their quotes and the
trials' results summaries for evidence); nothing below imports it.

One source of money truth: statement lines are what each booking's quote lines make
chargeable (``billing.statements``); the billing report reads those lines.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from bookings.models import Booking
from equipment.models import Equipment, Hub
from organizations.models import Organization
from pricing.models import MONEY, ZERO, Quote, QuoteLine, Unit, VoucherGrant, VoucherProgramme

# --- service requests -------------------------------------------------------------------


class ServiceRequest(models.Model):
    """An SME asks a hub for a staff-assisted trial: its plan, the equipment it wants (one
    or several pieces used together) and when. The operator answers with an offer
    (a ``Quote`` of kind ``offer``); accepting it books every piece in one transaction."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        QUOTED = "quoted", _("Quoted")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        REFUSED = "refused", _("Refused by the hub")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        EXPIRED = "expired", _("Expired")

    OPEN = (Status.SUBMITTED, Status.QUOTED)

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="service_requests",
                                     verbose_name=_("organisation"))
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="service_requests",
                            verbose_name=_("hub"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     verbose_name=_("requested by"))
    title = models.CharField(_("title"), max_length=200)
    plan = models.TextField(_("trial plan"))
    equipment = models.ManyToManyField(Equipment, related_name="service_requests",
                                       verbose_name=_("equipment wanted"))
    preferred_start = models.DateTimeField(_("preferred start"))
    preferred_end = models.DateTimeField(_("preferred end"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.SUBMITTED, db_index=True)
    offer = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="service_requests", verbose_name=_("offer"))
    bookings = models.ManyToManyField(Booking, blank=True, related_name="service_requests",
                                      verbose_name=_("bookings"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        ordering = ["-created", "-pk"]
        indexes = [models.Index(fields=["hub", "status"]),
                   models.Index(fields=["organization", "created"])]
        constraints = [
            models.CheckConstraint(condition=Q(preferred_end__gt=F("preferred_start")),
                                   name="servicerequest_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"SR-{self.pk} {self.title}"


def _request_attachment_path(instance: ServiceRequestAttachment, filename: str) -> str:
    import uuid
    from pathlib import PurePath

    suffix = PurePath(filename).suffix.lower()
    return f"service-requests/{instance.request_id}/{uuid.uuid4().hex}{suffix}"


class ServiceRequestAttachment(models.Model):
    """A file attached to a service request; checked and served as booking attachments are."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE,
                                related_name="attachments", verbose_name=_("service request"))
    file = models.FileField(_("file"), upload_to=_request_attachment_path, max_length=200)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    uploaded = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("service request attachment")
        verbose_name_plural = _("service request attachments")
        ordering = ["uploaded", "pk"]

    def __str__(self) -> str:
        return f"{self.name} (SR-{self.request_id})"


# --- statements -------------------------------------------------------------------------


class StatementSequence(models.Model):
    """The last statement number an operator issued in a year: the row locked while a
    statement takes the next number, so numbers have no gaps and no duplicates."""

    operator = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                 verbose_name=_("operator"))
    year = models.PositiveSmallIntegerField(_("year"))
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("statement number sequence")
        verbose_name_plural = _("statement number sequences")
        constraints = [models.UniqueConstraint(fields=["operator", "year"],
                                               name="statementsequence_once")]

    def __str__(self) -> str:
        return f"{self.operator} {self.year}: {self.last}"


class Statement(models.Model):
    """One SME's month at one operator: what it used and owes, the voucher share and the
    firm's share. Not a tax invoice (fapiao are issued outside Testbed)."""

    operator = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                 related_name="statements_issued", verbose_name=_("operator"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="statements", verbose_name=_("organisation"))
    month = models.DateField(_("month"), help_text=_("The first day of the month stated."))
    year = models.PositiveSmallIntegerField(_("year"))
    number = models.PositiveIntegerField(_("number"))
    total = models.DecimalField(_("total (CNY)"), **MONEY, default=ZERO)
    voucher_total = models.DecimalField(_("voucher share (CNY)"), **MONEY, default=ZERO)
    sme_total = models.DecimalField(_("firm's share (CNY)"), **MONEY, default=ZERO)
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+",
                                  verbose_name=_("issued by"))

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-month", "operator", "number"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "year", "number"],
                                    name="statement_number_once"),
            models.UniqueConstraint(fields=["operator", "organization", "month"],
                                    name="statement_once_per_month"),
            # Rounded: SQLite adds decimals as floats (66.67 + 66.66 != 133.33 there).
            models.CheckConstraint(
                condition=Q(total=Round(F("voucher_total") + F("sme_total"), 2)),
                name="statement_totals_split"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def code(self) -> str:
        """e.g. ``ST-AUTOWORKS-2026-00042``."""
        return f"ST-{self.operator.slug.upper()}-{self.year}-{self.number:05d}"


class StatementLine(models.Model):
    """A line of a statement: one quote line made chargeable, or a credit (negative) for
    a booking stated before and since cancelled. ``voucher_share + sme_share == amount``."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("Charge")
        CREDIT = "credit", _("Credit")

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines",
                                  verbose_name=_("statement"))
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices,
                            default=Kind.CHARGE)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="statement_lines",
                                verbose_name=_("booking"))
    quote_line = models.ForeignKey(QuoteLine, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("quote line"))
    line_kind = models.CharField(_("line kind"), max_length=20, choices=QuoteLine.Kind.choices)
    service_date = models.DateField(_("service date"))
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices)
    unit_price = models.DecimalField(_("unit price (CNY)"), **MONEY)
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    voucher_share = models.DecimalField(_("voucher share (CNY)"), **MONEY, default=ZERO)
    sme_share = models.DecimalField(_("firm's share (CNY)"), **MONEY)
    grant = models.ForeignKey(VoucherGrant, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("voucher grant"))

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["statement", "position"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "position"],
                                    name="statementline_position"),
            models.CheckConstraint(
                condition=Q(amount=Round(F("voucher_share") + F("sme_share"), 2)),
                name="statementline_split"),
        ]

    def __str__(self) -> str:
        return f"{self.statement_id}/{self.position} {self.amount} CNY"


# --- settlement claims ------------------------------------------------------------------


class SettlementClaim(models.Model):
    """The voucher share a provider claims from a programme for one month: one line per
    completed booking that used a grant of the programme at the provider's hubs."""

    class Status(models.TextChoices):
        # "Rejected" is 驳回 here (what the programme office does to a claim), not the
        # 拒绝 of a booking: the claim's words have their own context.
        DRAFT = "draft", pgettext_lazy("claim status", "Draft")
        SUBMITTED = "submitted", pgettext_lazy("claim status", "Submitted")
        APPROVED = "approved", pgettext_lazy("claim status", "Approved")
        PAID = "paid", pgettext_lazy("claim status", "Paid")
        REJECTED = "rejected", pgettext_lazy("claim status", "Rejected")

    programme = models.ForeignKey(VoucherProgramme, on_delete=models.PROTECT,
                                  related_name="claims", verbose_name=_("programme"))
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                 related_name="settlement_claims", verbose_name=_("provider"))
    month = models.DateField(_("month"), help_text=_("The first day of the month claimed."))
    number = models.PositiveSmallIntegerField(
        _("number in the month"), default=1,
        help_text=_("1 for the month's first claim on the programme; 2 and on for the "
                    "supplementary claims of bookings completed after it was submitted."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.DRAFT, db_index=True)
    amount = models.DecimalField(_("amount claimed (CNY)"), **MONEY, default=ZERO)
    reason = models.TextField(_("rejection reason"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("created by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("settlement claim")
        verbose_name_plural = _("settlement claims")
        ordering = ["-month", "programme", "provider", "number"]
        constraints = [
            # A month may have supplementary claims (bookings completed after the first
            # was submitted), but only one draft at a time collects what is unclaimed.
            models.UniqueConstraint(fields=["programme", "provider", "month"],
                                    condition=Q(status="draft"),
                                    name="claim_one_draft_per_month"),
            models.UniqueConstraint(fields=["programme", "provider", "month", "number"],
                                    name="claim_number_in_month_once"),
        ]

    def __str__(self) -> str:
        return f"SC-{self.pk} {self.programme.reference} {self.month:%Y-%m}"

    @property
    def is_supplementary(self) -> bool:
        """The month's second or later claim on the programme."""
        return self.number > 1


class ClaimLine(models.Model):
    """One completed booking in a claim, with the voucher share claimed for it."""

    claim = models.ForeignKey(SettlementClaim, on_delete=models.CASCADE, related_name="lines",
                              verbose_name=_("claim"))
    booking = models.OneToOneField(Booking, on_delete=models.PROTECT,
                                   related_name="claim_line", verbose_name=_("booking"),
                                   help_text=_("A booking is claimed once."))
    grant = models.ForeignKey(VoucherGrant, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("voucher grant"))
    amount = models.DecimalField(_("voucher share claimed (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        ordering = ["claim", "booking__start"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=Decimal("0")),
                                              name="claimline_positive")]

    def __str__(self) -> str:
        return f"{self.claim_id}: #{self.booking_id} {self.amount} CNY"
