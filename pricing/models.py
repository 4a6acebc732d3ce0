"""Money: rate cards, quotes and their lines, innovation-voucher programmes, grants and
declared affiliations (DESIGN.md, "Money").

Layering: ``pricing`` sits between ``equipment`` and ``bookings``. A booking points at the
quote it was priced with (``Booking.quote``); nothing here imports ``bookings``.

Amounts are decimal CNY to the fen, rounded half up once per line
(``pricing.money.fen``). A quote's totals are the sums of its lines; each line splits
into ``voucher_share + sme_share == amount`` (a database constraint), neither negative.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from equipment.models import Category, Equipment, Hub, TranslatedSave
from organizations.models import Organization

ZERO = Decimal("0.00")
MONEY = {"max_digits": 14, "decimal_places": 2}


class Unit(models.TextChoices):
    """The unit a line is counted in."""

    HOUR = "hour", _("hour")
    PIECE = "piece", _("piece")
    SET = "set", _("set")
    KG = "kg", _("kg")
    GRAM = "g", _("g")
    LITRE = "l", _("litre")
    METRE = "m", _("metre")
    SESSION = "session", _("session")


# --- rate cards -------------------------------------------------------------------------


class RateCard(TranslatedSave, models.Model):
    """A hub's prices from a date on. The card valid on a booking's first day (in the hub's
    time zone) prices it; equipment the card does not list is priced at its own
    ``hourly_rate`` with no surcharge or set-up fee. Its name is in English and Chinese
    (``pricing/translation.py``)."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="rate_cards",
                            verbose_name=_("hub"))
    name = models.CharField(_("name"), max_length=120)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True,
                                   help_text=_("Empty: until a later card replaces it."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("created by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("rate card")
        verbose_name_plural = _("rate cards")
        ordering = ["hub", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["hub", "valid_from"], name="ratecard_one_per_day"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="ratecard_until_after_from"),
        ]

    def __str__(self) -> str:
        return f"{self.hub} · {self.name} ({self.valid_from:%Y-%m-%d})"


class EquipmentRate(models.Model):
    """One equipment's prices on a rate card."""

    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rates",
                             verbose_name=_("rate card"))
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="rates",
                                  verbose_name=_("equipment"))
    hourly_rate = models.DecimalField(_("hourly rate (CNY)"), **MONEY,
                                      validators=[MinValueValidator(ZERO)])
    assisted_hourly_surcharge = models.DecimalField(
        _("staff-assisted surcharge per hour (CNY)"), **MONEY, default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text=_("Added per hour when the hub's staff run or assist the trial."))
    setup_fee = models.DecimalField(_("set-up fee (CNY)"), **MONEY, default=ZERO,
                                    validators=[MinValueValidator(ZERO)],
                                    help_text=_("Once per booking."))

    class Meta:
        verbose_name = _("equipment rate")
        verbose_name_plural = _("equipment rates")
        ordering = ["card", "equipment"]
        constraints = [
            models.UniqueConstraint(fields=["card", "equipment"], name="rate_once_per_card"),
            models.CheckConstraint(
                condition=Q(hourly_rate__gte=0) & Q(assisted_hourly_surcharge__gte=0)
                & Q(setup_fee__gte=0), name="rate_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.equipment} · {self.hourly_rate}/h"


class PricedItem(TranslatedSave, models.Model):
    """A consumable or material on a rate card, sold by the unit."""

    class Kind(models.TextChoices):
        CONSUMABLE = "consumable", _("Consumable")
        MATERIAL = "material", _("Material")

    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="items",
                             verbose_name=_("rate card"))
    code = models.SlugField(_("code"), max_length=60)
    name = models.CharField(_("name"), max_length=160)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices,
                            default=Kind.CONSUMABLE)
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices, default=Unit.PIECE)
    unit_price = models.DecimalField(_("unit price (CNY)"), **MONEY,
                                     validators=[MinValueValidator(ZERO)])

    class Meta:
        verbose_name = _("priced item")
        verbose_name_plural = _("priced items")
        ordering = ["card", "code"]
        constraints = [
            models.UniqueConstraint(fields=["card", "code"], name="item_code_once_per_card"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="item_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


# --- vouchers ---------------------------------------------------------------------------


class VoucherProgramme(TranslatedSave, models.Model):
    """An innovation-voucher programme (科技创新券): who issues it, the share of the service
    fee it covers, its caps, its validity, the accredited provider hubs where it can be
    redeemed and the equipment categories it covers (none listed: every category)."""

    class Claimant(models.TextChoices):
        PROVIDER = "provider", _("The provider claims the voucher share")
        SME = "sme", _("The firm claims the voucher share")

    name = models.CharField(_("name"), max_length=200)
    issuer = models.CharField(_("issuer"), max_length=200,
                              help_text=_("e.g. Beijing Municipal Science & Technology Commission"))
    reference = models.CharField(_("reference"), max_length=80, unique=True,
                                 help_text=_("The programme's own reference, as in its notice."))
    subsidy_share = models.DecimalField(
        _("subsidy share"), max_digits=5, decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("1"))],
        help_text=_("The share of each eligible line the voucher pays, e.g. 0.5000 for 50 %."))
    cap_per_sme_year = models.DecimalField(
        _("cap per firm per year (CNY)"), **MONEY, validators=[MinValueValidator(ZERO)],
        help_text=_("The most one firm may use in a calendar year, across all its grants."))
    cap_per_use = models.DecimalField(
        _("cap per use (CNY)"), **MONEY, null=True, blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=_("The most one booking may use. Empty: no cap per use."))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    providers = models.ManyToManyField(Hub, related_name="voucher_programmes", blank=True,
                                       verbose_name=_("accredited provider hubs"))
    categories = models.ManyToManyField(
        Category, related_name="voucher_programmes", blank=True,
        verbose_name=_("eligible categories"), help_text=_("None chosen: every category."))
    claimant = models.CharField(_("who claims"), max_length=16, choices=Claimant.choices,
                                default=Claimant.PROVIDER)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("voucher programme")
        verbose_name_plural = _("voucher programmes")
        ordering = ["-valid_from", "reference"]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gte=F("valid_from")),
                                   name="programme_until_after_from"),
            models.CheckConstraint(condition=Q(subsidy_share__gt=0) & Q(subsidy_share__lte=1),
                                   name="programme_share_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.reference})"


class VoucherGrant(models.Model):
    """A voucher granted to one SME under a programme, entered by platform staff from the
    issuer's notice. ``used`` is the voucher share of the booked quotes that apply it
    (kept under the grant's row lock; equals the sum of those lines)."""

    programme = models.ForeignKey(VoucherProgramme, on_delete=models.PROTECT,
                                  related_name="grants", verbose_name=_("programme"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="voucher_grants",
                                     verbose_name=_("organisation"))
    reference_number = models.CharField(_("reference number"), max_length=80,
                                        help_text=_("The number on the issuer's grant notice."))
    amount = models.DecimalField(_("amount (CNY)"), **MONEY,
                                 validators=[MinValueValidator(Decimal("0.01"))])
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    used = models.DecimalField(_("used (CNY)"), **MONEY, default=ZERO, editable=False)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("entered by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_reason = models.TextField(_("revocation reason"), blank=True, editable=False)

    class Meta:
        verbose_name = _("voucher grant")
        verbose_name_plural = _("voucher grants")
        ordering = ["-valid_from", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "reference_number"],
                                    name="grant_reference_once_per_programme"),
            models.CheckConstraint(condition=Q(valid_until__gte=F("valid_from")),
                                   name="grant_until_after_from"),
            models.CheckConstraint(condition=Q(used__gte=0) & Q(used__lte=F("amount")),
                                   name="grant_used_within_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.programme.reference} · {self.reference_number} ({self.organization})"

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.used


class Affiliation(models.Model):
    """A declared tie between two organisations (ownership or control). An SME affiliated
    with a hub's operator, in either direction, cannot use a voucher at that hub."""

    class Kind(models.TextChoices):
        OWNERSHIP = "ownership", _("Ownership")
        CONTROL = "control", _("Control")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="affiliations",
                                     verbose_name=_("organisation"))
    affiliate = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("affiliated organisation"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    note = models.TextField(_("note"), blank=True,
                            help_text=_("e.g. share held, or how control is exercised."))
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("declared by"))
    declared_at = models.DateTimeField(_("declared at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("affiliation")
        verbose_name_plural = _("affiliations")
        ordering = ["organization", "affiliate"]
        constraints = [
            models.CheckConstraint(condition=~Q(organization=F("affiliate")),
                                   name="affiliation_not_self"),
            models.UniqueConstraint(fields=["organization", "affiliate"],
                                    condition=Q(ended_at__isnull=True),
                                    name="affiliation_once_while_current"),
        ]

    def __str__(self) -> str:
        return f"{self.organization} ↔ {self.affiliate} ({self.get_kind_display()})"


# --- quotes -----------------------------------------------------------------------------


class Quote(models.Model):
    """Priced lines for a period (or a service request's plan) at one hub, for one SME.

    Kinds:
    - ``estimate``: asked for before booking (portal or ``POST /api/v1/quotes/``); open
      until ``valid_until``; a booking may be made from it (its prices are honoured).
    - ``offer``: an operator's answer to a service request; accepted, declined or expired.
    - ``booking``: the lines one booking keeps (``Booking.quote``); ``booked`` while the
      booking holds its slot or was carried out, ``released`` once cancelled, rejected or
      a no-show (its voucher share is then returned to the grant).
    """

    class Kind(models.TextChoices):
        ESTIMATE = "estimate", _("Estimate")
        OFFER = "offer", _("Offer for a service request")
        BOOKING = "booking", _("Booking's price")

    class Status(models.TextChoices):
        # A context of their own: "Open", "Booked", "Released" mean other things elsewhere.
        OPEN = "open", pgettext_lazy("quote status", "Open")
        ACCEPTED = "accepted", pgettext_lazy("quote status", "Accepted")
        DECLINED = "declined", pgettext_lazy("quote status", "Declined")
        EXPIRED = "expired", pgettext_lazy("quote status", "Expired")
        BOOKED = "booked", pgettext_lazy("quote status", "Booked")
        RELEASED = "released", pgettext_lazy("quote status", "Released")

    class Shortfall(models.TextChoices):
        SME_PAYS = "sme_pays", _("The firm pays what the voucher cannot cover")
        REFUSE = "refuse", _("Refuse the booking if the voucher cannot cover its share")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="quotes",
                            verbose_name=_("hub"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="quotes", verbose_name=_("organisation"),
                                     help_text=_("The SME the quote is for."))
    origin = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="copies", verbose_name=_("from quote"),
                               help_text=_("The estimate or accepted offer this was made from."))
    start = models.DateTimeField(_("start"), help_text=_("Start of the first priced period."))
    end = models.DateTimeField(_("end"), help_text=_("End of the last priced period."))
    assisted = models.BooleanField(_("staff-assisted"), default=False)
    grant = models.ForeignKey(VoucherGrant, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="quotes", verbose_name=_("voucher grant"))
    shortfall = models.CharField(_("if the voucher cannot cover its share"), max_length=16,
                                 choices=Shortfall.choices, default=Shortfall.SME_PAYS)
    total = models.DecimalField(_("total (CNY)"), **MONEY, default=ZERO)
    voucher_total = models.DecimalField(_("voucher share (CNY)"), **MONEY, default=ZERO)
    sme_total = models.DecimalField(_("firm's share (CNY)"), **MONEY, default=ZERO)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("created by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-created", "-pk"]
        indexes = [models.Index(fields=["grant", "status"]),
                   models.Index(fields=["organization", "created"])]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="quote_end_after_start"),
            models.CheckConstraint(
                condition=Q(voucher_total__gte=0) & Q(sme_total__gte=0)
                # Rounded: SQLite adds decimals as floats (66.67 + 66.66 != 133.33 there).
                & Q(total=Round(F("voucher_total") + F("sme_total"), 2)),
                name="quote_totals_split"),
        ]

    def __str__(self) -> str:
        return f"Q-{self.pk} {self.get_kind_display()} {self.total} CNY"


class QuoteLine(models.Model):
    """One priced line. ``amount`` = ``quantity`` × ``unit_price`` rounded to the fen;
    ``voucher_share`` + ``sme_share`` = ``amount``. Descriptions are rendered from the kind,
    equipment or item in the reader's language, not stored as text."""

    class Kind(models.TextChoices):
        USAGE = "usage", _("Equipment time")
        ASSISTED = "assisted", _("Staff-assisted surcharge")
        SETUP = "setup", _("Set-up fee")
        ITEM = "item", _("Consumables and materials")
        LATE_CANCELLATION = "late_cancellation", _("Late-cancellation fee")

    # Lines a voucher may pay a share of (service fees; never materials or penalties).
    VOUCHER_ELIGIBLE = (Kind.USAGE, Kind.ASSISTED, Kind.SETUP)

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines",
                              verbose_name=_("quote"))
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    equipment = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("equipment"))
    item = models.ForeignKey(PricedItem, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", verbose_name=_("item"))
    start = models.DateTimeField(_("start"), null=True, blank=True)
    end = models.DateTimeField(_("end"), null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices)
    unit_price = models.DecimalField(_("unit price (CNY)"), **MONEY)
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    voucher_share = models.DecimalField(_("voucher share (CNY)"), **MONEY, default=ZERO)
    sme_share = models.DecimalField(_("firm's share (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "position"]
        constraints = [
            models.UniqueConstraint(fields=["quote", "position"], name="quoteline_position"),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(voucher_share__gte=0) & Q(sme_share__gte=0)
                & Q(amount=Round(F("voucher_share") + F("sme_share"), 2)),
                name="quoteline_split"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} CNY"
