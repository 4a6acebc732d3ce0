from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core import outbound
from core.errors import ValidationFailed
from core.validators import validate_period
from organizations.models import Organization

from . import sources
from .hours import OFFICE_HOURS, validate_opening_hours, validate_timezone


def default_opening_hours() -> dict:
    return {day: [list(p) for p in periods] for day, periods in OFFICE_HOURS.items()}


class Hub(models.Model):
    operator = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="hubs",
        limit_choices_to={"kind": Organization.Kind.FLAGSHIP},
        help_text=_("The flagship firm that runs this hub."),
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    address = models.CharField(max_length=300, blank=True)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai",
                                validators=[validate_timezone])
    opening_hours = models.JSONField(
        default=default_opening_hours,
        validators=[validate_opening_hours],
        help_text=_('Per weekday, periods in local time: {"mon": [["08:00", "20:00"]], …}. '
                    "A period ending at or before its start runs past midnight."),
    )
    description = models.TextField(blank=True)
    outbound_allowed_networks = models.TextField(
        _("allowed outbound networks"), blank=True,
        validators=[outbound.validate_network_list],
        help_text=_("Private networks this hub's equipment gateways and partners' endpoints "
                    "may be reached on, in CIDR notation, one per line (e.g. 10.20.0.0/16). "
                    "Set by platform staff only; operators cannot change it."))
    auto_check_in = models.BooleanField(
        _("automatic check-in"), default=False,
        help_text=_("Check a confirmed booking in when its equipment's state signal shows the "
                    "machine active within the slot (equipment with an MTConnect, OPC UA or "
                    "MQTT source and a state signal)."))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.operator_id and self.operator.kind != Organization.Kind.FLAGSHIP:
            raise ValidationError({"operator": _("A hub is operated by a flagship firm.")})


class Category(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Capability(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.name


class Equipment(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        DOWN = "down", _("Down")
        RETIRED = "retired", _("Retired")

    class ResultSourceKind(models.TextChoices):
        NONE = "none", _("None (operator uploads results)")
        HTTP = "http", _("HTTP gateway (pull)")
        DEMO = "demo", _("Built-in demo gateway")
        MTCONNECT = "mtconnect", _("MTConnect agent (polled during the booking)")
        OPCUA = "opcua", _("OPC UA server (subscribed during the booking)")
        MQTT = "mqtt", _("MQTT broker (subscribed during the booking)")

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="equipment")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="equipment")
    capabilities = models.ManyToManyField(Capability, blank=True, related_name="equipment")
    specs = models.JSONField(
        default=dict, blank=True,
        help_text=_('Technical data, e.g. {"axes": 5, "travel_mm": [800, 600, 500]}.'))
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    hourly_rate = models.DecimalField(
        _("hourly rate (CNY)"), max_digits=10, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )

    result_source_kind = models.CharField(max_length=16, choices=ResultSourceKind.choices,
                                          default=ResultSourceKind.NONE)
    result_source_url = models.CharField(
        max_length=500, blank=True,
        help_text=_("Where the source is: the HTTP gateway or MTConnect agent (https://…), the "
                    "OPC UA server (opc.tcp://…) or the MQTT broker (mqtts://…)."))
    result_source_secret = models.CharField(
        max_length=200, blank=True,
        help_text=_("The HTTP gateway's bearer secret, or the OPC UA or MQTT password; never "
                    "shown through the API."),
    )
    result_source_config = models.JSONField(
        default=dict, blank=True,
        help_text=_("The source's other settings by kind: MTConnect device, data_items, "
                    "state_item; OPC UA nodes, sampling_ms, mode, security, username, "
                    "state_node; MQTT topic, format, username, state_metric."))

    # Booking policy. Durations are whole minutes.
    slot_granularity = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text=_("Minutes; bookings start and end on multiples of this (in hub time)."))
    min_duration = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text=_("Minutes."))
    max_duration = models.PositiveIntegerField(
        default=8 * 60, validators=[MinValueValidator(1)], help_text=_("Minutes."))
    lead_time = models.PositiveIntegerField(
        default=0, help_text=_("Minutes between booking and start, at least."))
    booking_horizon = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1)],
        help_text=_("Days ahead one may book, at most."))
    changeover_buffer = models.PositiveIntegerField(
        default=0, help_text=_("Minutes kept free between two bookings (cleaning, set-up)."))
    approval_required = models.BooleanField(
        default=False, help_text=_("Bookings wait for an operator's approval."))
    qualification_required = models.BooleanField(
        default=False, help_text=_("Only qualified people may run trials on it."))
    max_open_bookings_per_sme = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=_("Open (requested, confirmed, checked-in) bookings one SME may hold; "
                    "empty = no limit."))

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hub__name", "name"]
        verbose_name_plural = "equipment"
        constraints = [
            models.UniqueConstraint(fields=["hub", "slug"], name="equipment_slug_per_hub"),
            models.CheckConstraint(condition=Q(min_duration__lte=models.F("max_duration")),
                                   name="equipment_min_le_max_duration"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hub})"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._saved_source = instance._source()
        return instance

    def _source(self) -> tuple:
        fields = self.__dict__  # no query for a deferred field
        return (fields.get("result_source_kind"), fields.get("result_source_url"),
                fields.get("hub_id"))

    def _check_source_url(self) -> ValidationError | None:
        """The source's URL must pass the outbound guard when it is set or changed (or the
        equipment moves hub); an unchanged one is checked again at every connection."""
        schemes = sources.SCHEMES.get(self.result_source_kind)
        if (schemes is None or not self.result_source_url
                or getattr(self, "_saved_source", None) == self._source()):
            return None
        try:
            outbound.check_url(self.result_source_url, field="result_source_url",
                               hub=self.hub if self.hub_id else None, schemes=schemes)
        except outbound.OutboundRefused as exc:
            return ValidationError(exc.message, code=outbound.CODE)
        return None

    def clean(self):
        errors = {}
        g = self.slot_granularity or 0
        if g <= 0:
            errors["slot_granularity"] = _("Slot granularity must be a positive number of minutes.")
        else:
            if self.min_duration and self.min_duration % g:
                errors["min_duration"] = _("Minimum duration must be a multiple of the slot "
                                           "granularity (%(g)d minutes).") % {"g": g}
            if self.max_duration and self.max_duration % g:
                errors["max_duration"] = _("Maximum duration must be a multiple of the slot "
                                           "granularity (%(g)d minutes).") % {"g": g}
            if self.changeover_buffer and self.changeover_buffer % g:
                errors["changeover_buffer"] = _("The changeover buffer must be a multiple of the "
                                                "slot granularity (%(g)d minutes).") % {"g": g}
        if self.min_duration and self.max_duration and self.min_duration > self.max_duration:
            errors["max_duration"] = _("Maximum duration must not be below the minimum.")
        errors.update(sources.validate(self))
        if self.result_source_kind == self.ResultSourceKind.HTTP and not self.result_source_url:
            errors["result_source_url"] = _("An HTTP result source needs a URL.")
        elif "result_source_url" not in errors and (refused := self._check_source_url()):
            errors["result_source_url"] = refused
        if errors:
            raise ValidationError(errors)


class MaintenanceWindow(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE,
                                  related_name="maintenance_windows")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["equipment", "start"])]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")),
                                   name="maintenance_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.equipment}: {self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.start and self.end:
            try:
                validate_period(self.start, self.end)
            except ValidationFailed as exc:
                raise exc.as_django() from None


class Qualification(models.Model):
    """A person may run trials on one piece of equipment, or on a whole category."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="qualifications")
    equipment = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="qualifications")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="qualifications")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    granted = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True, help_text=_("Empty: never expires."))

    class Meta:
        ordering = ["-granted"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(equipment__isnull=False, category__isnull=True)
                           | Q(equipment__isnull=True, category__isnull=False)),
                name="qualification_equipment_xor_category",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.equipment or self.category}"

    def clean(self):
        if bool(self.equipment_id) == bool(self.category_id):
            raise ValidationError(_("A qualification is for one piece of equipment or one "
                                    "category, not both and not neither."))
