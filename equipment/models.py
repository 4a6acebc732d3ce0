import uuid
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from core import outbound
from core.errors import ValidationFailed
from core.validators import validate_period, validate_specs
from organizations.models import Organization

from . import sources
from .hours import OFFICE_HOURS, validate_opening_hours, validate_timezone


def default_opening_hours() -> dict:
    return {day: [list(p) for p in periods] for day, periods in OFFICE_HOURS.items()}


def translated_update_fields(model, update_fields) -> list[str]:
    """``update_fields`` naming a translated field (``name``) or one of its languages
    (``name_en``) also names the others: the column per language and the original."""
    from modeltranslation.translator import NotRegistered, translator

    try:
        opts = translator.get_options_for_model(model)
    except NotRegistered:
        return list(update_fields)
    out = set(update_fields)
    for base, localized in opts.all_fields.items():
        names = {base} | {f.name for f in localized}
        if out & names:
            out |= names
    return sorted(out)


class TranslatedSave:
    """Saving some fields (``save(update_fields=[...])``, as ``update_equipment`` does)
    writes every language column of a translated field named: setting ``name`` sets the
    reader's language column, which must be written too."""

    def save(self, *args, **kwargs):
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = translated_update_fields(type(self),
                                                               kwargs["update_fields"])
        return super().save(*args, **kwargs)


class Hub(TranslatedSave, models.Model):
    operator = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="hubs",
        limit_choices_to={"kind": Organization.Kind.FLAGSHIP},
        verbose_name=_("operator"),
        help_text=_("The flagship firm that runs this hub."),
    )
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai",
                                validators=[validate_timezone])
    opening_hours = models.JSONField(
        _("opening hours"),
        default=default_opening_hours,
        validators=[validate_opening_hours],
        help_text=_('Per weekday, periods in local time: {"mon": [["08:00", "20:00"]], …}. '
                    "A period ending at or before its start runs past midnight."),
    )
    description = models.TextField(_("description"), blank=True)
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
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("hub")
        verbose_name_plural = _("hubs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.operator_id and self.operator.kind != Organization.Kind.FLAGSHIP:
            raise ValidationError({"operator": _("A hub is operated by a flagship firm.")})


class Category(TranslatedSave, models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Capability(TranslatedSave, models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)

    class Meta:
        verbose_name = _("capability")
        verbose_name_plural = _("capabilities")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


MAX_BOOKING_HORIZON_DAYS = 3650  # ten years


class Equipment(TranslatedSave, models.Model):
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

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="equipment",
                            verbose_name=_("hub"))
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="equipment",
                                 verbose_name=_("category"))
    capabilities = models.ManyToManyField(Capability, blank=True, related_name="equipment",
                                          verbose_name=_("capabilities"))
    specs = models.JSONField(
        _("specs"), default=dict, blank=True, validators=[validate_specs],
        help_text=_('Technical data, e.g. {"axes": 5, "travel_mm": [800, 600, 500]}.'))
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.AVAILABLE)
    hourly_rate = models.DecimalField(
        _("hourly rate (CNY)"), max_digits=10, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )

    result_source_kind = models.CharField(_("result source kind"), max_length=16,
                                          choices=ResultSourceKind.choices,
                                          default=ResultSourceKind.NONE)
    result_source_url = models.CharField(
        _("result source URL"), max_length=500, blank=True,
        help_text=_("Where the source is: the HTTP gateway or MTConnect agent (https://…), the "
                    "OPC UA server (opc.tcp://…) or the MQTT broker (mqtts://…)."))
    result_source_secret = models.CharField(
        _("result source secret"), max_length=200, blank=True,
        help_text=_("The HTTP gateway's bearer secret, or the OPC UA or MQTT password; never "
                    "shown through the API."),
    )
    result_source_config = models.JSONField(
        _("result source configuration"), default=dict, blank=True,
        help_text=_("The source's other settings by kind: MTConnect device, data_items, "
                    "state_item; OPC UA nodes, sampling_ms, mode, security, username, "
                    "state_node; MQTT topic, format, username, state_metric."))

    # Booking policy. Durations are whole minutes.
    slot_granularity = models.PositiveIntegerField(
        _("slot granularity"), default=30, validators=[MinValueValidator(1)],
        help_text=_("Minutes; bookings start and end on multiples of this (in hub time)."))
    min_duration = models.PositiveIntegerField(
        _("minimum duration"), default=60, validators=[MinValueValidator(1)],
        help_text=_("Minutes."))
    max_duration = models.PositiveIntegerField(
        _("maximum duration"), default=8 * 60, validators=[MinValueValidator(1)],
        help_text=_("Minutes."))
    lead_time = models.PositiveIntegerField(
        _("lead time"), default=0, help_text=_("Minutes between booking and start, at least."))
    booking_horizon = models.PositiveIntegerField(
        _("booking horizon"), default=90, validators=[MinValueValidator(1)],
        help_text=_("Days ahead one may book, at most."))
    changeover_buffer = models.PositiveIntegerField(
        _("changeover buffer"), default=0,
        help_text=_("Minutes kept free between two bookings (cleaning, set-up)."))
    approval_required = models.BooleanField(
        _("approval required"), default=False,
        help_text=_("Bookings wait for an operator's approval."))
    qualification_required = models.BooleanField(
        _("qualification required"), default=False,
        help_text=_("Only qualified people may run trials on it."))
    max_open_bookings_per_sme = models.PositiveIntegerField(
        _("maximum open bookings per SME"), null=True, blank=True,
        help_text=_("Open (requested, confirmed, checked-in) bookings one SME may hold; "
                    "empty = no limit."))

    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("equipment")
        verbose_name_plural = _("equipment")
        ordering = ["hub__name", "name"]
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
        if self.booking_horizon and self.booking_horizon > MAX_BOOKING_HORIZON_DAYS:
            # Further ahead than dates go (year 9999): every page of the equipment would fail.
            errors["booking_horizon"] = _("One may book at most %(days)d days ahead.") % {
                "days": MAX_BOOKING_HORIZON_DAYS}
        errors.update(sources.validate(self))
        if self.result_source_kind == self.ResultSourceKind.HTTP and not self.result_source_url:
            errors["result_source_url"] = _("An HTTP result source needs a URL.")
        elif "result_source_url" not in errors and (refused := self._check_source_url()):
            errors["result_source_url"] = refused
        if errors:
            raise ValidationError(errors)


# --- the public catalogue: words in both languages, photos and documents -----------------
#
# Names and texts of hubs, categories, capabilities and equipment, spec labels and metric
# names have a column per language (django-modeltranslation, ``equipment/translation.py``):
# ``name_en``, ``name_zh_hans``; ``name`` reads the reader's language, falling back to
# English.


class Term(models.Model):
    """A word of the catalogue's dictionary: a key as stored in data (a spec's JSON key, a
    metric's name) and its label in each language, with the unit it is given in."""

    key = models.CharField(_("key"), max_length=64, unique=True,
                           help_text=_('As stored in the data, e.g. "travel_mm", "cycle_time".'))
    label = models.CharField(_("label"), max_length=120,
                             help_text=_("What readers see, e.g. “Travel”."))
    unit = models.CharField(_("unit"), max_length=16, blank=True,
                            help_text=_("Shown after values, e.g. mm, s, %."))

    class Meta:
        abstract = True
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class SpecLabel(TranslatedSave, Term):
    """The label of one key of equipment specs (``Equipment.specs``)."""

    class Meta(Term.Meta):
        verbose_name = _("spec label")
        verbose_name_plural = _("spec labels")


class Metric(TranslatedSave, Term):
    """The name of a measured metric (``TrialMetric.name``) in words."""

    class Meta(Term.Meta):
        verbose_name = _("metric name")
        verbose_name_plural = _("metric names")


# The dictionary (spec labels, metric names) is read through the cache on every page that
# shows a label (``selectors.term``); a change clears it, now and once it commits.
TERMS_CACHE_KEY = "equipment:terms:v1"


@receiver([post_save, post_delete], sender=SpecLabel)
@receiver([post_save, post_delete], sender=Metric)
def _terms_changed(sender, **kwargs) -> None:
    cache.delete(TERMS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(TERMS_CACHE_KEY))


def _catalogue_file(kind: str, instance, filename: str) -> str:
    """Stored under a random name: the uploader's file name is only shown, never used."""
    suffix = Path(filename).suffix.lower()
    return f"catalogue/equipment-{instance.equipment_id}/{kind}/{uuid.uuid4().hex}{suffix}"


def photo_path(instance, filename: str) -> str:
    return _catalogue_file("photos", instance, filename)


def document_path(instance, filename: str) -> str:
    return _catalogue_file("documents", instance, filename)


class EquipmentPhoto(TranslatedSave, models.Model):
    """A photo of a piece of equipment, re-encoded as JPEG on upload (no metadata kept),
    with a small thumbnail for the catalogue's cards. Added through
    ``services.add_equipment_photo``; served by ``views.photo``."""

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="photos",
                                  verbose_name=_("equipment"))
    image = models.FileField(_("image"), upload_to=photo_path)
    thumbnail = models.FileField(_("thumbnail"), upload_to=photo_path)
    width = models.PositiveIntegerField(_("width"), default=0)
    height = models.PositiveIntegerField(_("height"), default=0)
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(
        _("position"), default=0,
        help_text=_("Order on the page; the first photo is the card's."))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("photo")
        verbose_name_plural = _("photos")

    def __str__(self) -> str:
        return self.caption or f"#{self.pk}"


class EquipmentDocument(TranslatedSave, models.Model):
    """A PDF about a piece of equipment (datasheet, safety rules…), always downloaded as
    an attachment (``views.document``), never shown inline."""

    class Kind(models.TextChoices):
        DATASHEET = "datasheet", _("Datasheet")
        SAFETY = "safety", _("Safety rules")
        MANUAL = "manual", _("Operating instructions")
        OTHER = "other", _("Other document")

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE,
                                  related_name="documents", verbose_name=_("equipment"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices,
                            default=Kind.DATASHEET)
    title = models.CharField(_("title"), max_length=200)
    file = models.FileField(_("file"), upload_to=document_path)
    filename = models.CharField(_("file name"), max_length=200,
                                help_text=_("The name it downloads as."))
    size = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["kind", "pk"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title


class MaintenanceWindow(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE,
                                  related_name="maintenance_windows",
                                  verbose_name=_("equipment"))
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    reason = models.CharField(_("reason"), max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("created by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
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
                             related_name="qualifications", verbose_name=_("user"))
    equipment = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="qualifications", verbose_name=_("equipment"))
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="qualifications", verbose_name=_("category"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("granted by"))
    granted = models.DateTimeField(_("granted at"), auto_now_add=True)
    expires = models.DateTimeField(_("expires"), null=True, blank=True,
                                   help_text=_("Empty: never expires."))

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
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


class QualificationRequest(models.Model):
    """An SME member asks the hub operator for a qualification on one piece of equipment
    (or its whole category); the operator grants it with an expiry (a ``Qualification``)
    or refuses with a reason."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        GRANTED = "granted", _("Granted")
        REFUSED = "refused", _("Refused")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="qualification_requests", verbose_name=_("user"),
                             help_text=_("The person who would run trials."))
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE,
                                     related_name="qualification_requests",
                                     verbose_name=_("organisation"))
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE,
                                  related_name="qualification_requests",
                                  verbose_name=_("equipment"))
    whole_category = models.BooleanField(
        _("whole category"), default=False,
        help_text=_("Asks for every equipment of the equipment's category."))
    note = models.TextField(_("note"), blank=True,
                            help_text=_("Experience and training, for the operator."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.REQUESTED, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True,
                              help_text=_("Why it was refused (or a remark)."))
    expires = models.DateTimeField(_("expires"), null=True, blank=True,
                                   help_text=_("Expiry of the qualification granted."))
    qualification = models.ForeignKey(Qualification, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+",
                                      verbose_name=_("qualification"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("qualification request")
        verbose_name_plural = _("qualification requests")
        ordering = ["-created", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "equipment"], condition=Q(status="requested"),
                name="qualification_request_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.user} asks for {self.equipment} ({self.status})"
