from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking
from equipment.models import Category, Equipment, Hub
from organizations.models import Organization


class Trial(models.Model):
    """The trial run in one booking. It shares the booking's id (the booking is its primary
    key): a trial exists from the booking's confirmation until it is cancelled or lapses."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        COLLECTING = "collecting", _("Collecting")
        COLLECTED = "collected", _("Collected")
        FAILED = "failed", _("Failed")

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, primary_key=True,
                                   related_name="trial", verbose_name=_("booking"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(_("collection attempts"), default=0,
                                           help_text=_("Collection attempts so far."))
    gaps = models.JSONField(
        _("gaps"), default=list, blank=True,
        help_text=_("Periods of the booking without readings from the equipment: "
                    '[{"start", "end", "seconds", "reason", "detail"}].'))
    last_error = models.TextField(_("last error"), blank=True)
    collected_at = models.DateTimeField(_("collected at"), null=True, blank=True)
    summary = models.JSONField(
        _("summary"), default=dict, blank=True,
        help_text=_("Per metric: count, min, max, mean, unit, first and last timestamp."))
    measurement_count = models.PositiveIntegerField(_("measurements"), default=0)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("trial")
        verbose_name_plural = _("trials")
        ordering = ["-booking__start"]

    def __str__(self) -> str:
        return f"Trial #{self.pk} ({self.status})"


class TrialMetric(models.Model):
    """One channel of a trial: a metric's name and unit, stored once per trial; each of
    its readings points here instead of repeating the text."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="metrics",
                              verbose_name=_("trial"))
    name = models.CharField(_("metric"), max_length=64)
    unit = models.CharField(_("unit"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("trial metric")
        verbose_name_plural = _("trial metrics")
        constraints = [models.UniqueConstraint(fields=["trial", "name", "unit"],
                                               name="trial_metric_once")]

    def __str__(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


class TimeIndex(models.Index):
    """BRIN on PostgreSQL, a plain B-tree elsewhere (SQLite has no BRIN). Readings are
    loaded a trial at a time in time order, so block ranges summarise (trial, time) well:
    the index costs a few kilobytes where a B-tree would cost as much as the readings."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        statement = super().create_sql(model, schema_editor, using=" USING brin", **kwargs)
        # Autovacuum summarises each block range as it fills (a load of millions of rows
        # is pruned by the next vacuum, without anyone calling brin_summarize_new_values).
        statement.parts["extra"] = " WITH (autosummarize = on)" + statement.parts["extra"]
        return statement


class Measurement(models.Model):
    """One reading: the trial, its channel (``TrialMetric``: name and unit), time and value.
    Many rows per trial, loaded in bulk (COPY), never edited one by one; read in order
    of (ts, id). See docs/architecture.md, "Measurements layout".

    On PostgreSQL the table has no index but the BRIN on (trial, ts): no primary-key
    B-tree (migration 0013 drops it; ids stay unique by their sequence, and nothing looks a
    reading up by id — it would cost a third of the table's size and of the COPY rate) and
    no foreign-key constraints: every row is written by ``trials.ingest`` for the trial it
    holds locked, with that trial's metrics, and rows leave with their trial (a delete by
    ``trial_id``). Constraint checks would cost a trigger per reading on load and a scan
    per metric on delete."""

    id = models.BigAutoField(primary_key=True)
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="measurements",
                              db_index=False, db_constraint=False, verbose_name=_("trial"))
    metric = models.ForeignKey(TrialMetric, on_delete=models.DO_NOTHING, related_name="+",
                               db_index=False, db_constraint=False, verbose_name=_("metric"))
    ts = models.DateTimeField(_("time"))
    value = models.FloatField(_("value"))

    class Meta:
        verbose_name = _("measurement")
        verbose_name_plural = _("measurements")
        indexes = [TimeIndex(fields=["trial", "ts"], name="measurement_trial_ts")]

    def __str__(self) -> str:
        return f"{self.metric_id}={self.value} @ {self.ts:%Y-%m-%d %H:%M:%S}"


def result_file_path(instance: "ResultFile", filename: str) -> str:
    return f"results/trial-{instance.trial_id}/{instance.sha256[:16]}-{filename}"


class ResultFile(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="files",
                              verbose_name=_("trial"))
    file = models.FileField(_("file"), upload_to=result_file_path)
    name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("result file")
        verbose_name_plural = _("result files")
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["trial", "sha256"],
                                               name="resultfile_unique_per_trial")]

    def __str__(self) -> str:
        return self.name


class SharingAgreement(models.Model):
    """A hub operator's agreement to share trial results with a partner university."""

    operator = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                 related_name="agreements_given",
                                 limit_choices_to={"kind": Organization.Kind.FLAGSHIP},
                                 verbose_name=_("operator"))
    university = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                   related_name="agreements_received",
                                   limit_choices_to={"kind": Organization.Kind.UNIVERSITY},
                                   verbose_name=_("university"))
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="agreements",
                            verbose_name=_("hub"))
    title = models.CharField(_("title"), max_length=200, blank=True)
    categories = models.ManyToManyField(Category, related_name="agreements",
                                        verbose_name=_("equipment categories"),
                                        help_text=_("Equipment categories whose trials it covers."))
    anonymize = models.BooleanField(
        _("anonymise"), default=True,
        help_text=_("Drop the SME's identity and the free-text trial plan."))
    shift_timestamps = models.BooleanField(
        _("shift timestamps"), default=False,
        help_text=_("Give times as seconds from the trial's start instead of calendar times."))
    embargo_days = models.PositiveIntegerField(
        _("embargo (days)"), default=30,
        help_text=_("Days after the trial before its data may be released."))
    license = models.CharField(_("licence"), max_length=64, default="CC-BY-4.0",
                               help_text=_("SPDX identifier of the data licence."))
    endpoint_url = models.URLField(_("endpoint URL"),
                                   help_text=_("Where release notifications are delivered."))
    signing_secret = models.CharField(_("signing secret"), max_length=80, editable=False,
                                      help_text=_("Standard Webhooks secret (whsec_…)."))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    version = models.PositiveIntegerField(
        _("version"), default=1, editable=False,
        help_text=_("The version of its terms: a new one each time a term changes. Consents "
                    "stay bound to the version they were given under."))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sharing agreement")
        verbose_name_plural = _("sharing agreements")
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="agreement_valid_until_after_from"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.operator} → {self.university} ({self.hub})"

    def clean(self):
        errors = {}
        if self.operator_id and self.operator.kind != Organization.Kind.FLAGSHIP:
            errors["operator"] = _("The operator must be a flagship firm.")
        if self.university_id and self.university.kind != Organization.Kind.UNIVERSITY:
            errors["university"] = _("Data is shared with a university.")
        if self.hub_id and self.operator_id and self.hub.operator_id != self.operator_id:
            errors["hub"] = _("The hub must be one the operator runs.")
        if self.valid_until and self.valid_from and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end of validity must be after its start.")
        if errors:
            raise ValidationError(errors)

    def terms(self) -> dict:
        """What an SME consents to (invariant 7): anonymisation, timestamp shift, embargo,
        licence, scope (hub and categories, by id) and recipient (university id)."""
        return {"anonymize": self.anonymize, "shift_timestamps": self.shift_timestamps,
                "embargo_days": self.embargo_days, "license": self.license,
                "hub": self.hub_id, "university": self.university_id,
                "categories": sorted(c.pk for c in self.categories.all()) if self.pk else []}

    def current_version(self) -> "AgreementVersion":
        """The row of the current version. Agreements made by the service have it from the
        start; one written some other way gets it from its terms the first time it is
        needed."""
        version, _created = AgreementVersion.objects.get_or_create(
            agreement=self, number=self.version, defaults={"terms": self.terms()})
        return version


class AgreementVersion(models.Model):
    """The terms of an agreement as they stood in one version. Never changed: a change of
    terms adds a version; consents and releases point at the version they rest on."""

    agreement = models.ForeignKey(SharingAgreement, on_delete=models.CASCADE,
                                  related_name="versions", verbose_name=_("agreement"))
    number = models.PositiveIntegerField(_("version number"))
    terms = models.JSONField(_("terms"), help_text=_("anonymize, shift_timestamps, embargo_days, "
                                                     "license, hub, university (ids) and "
                                                     "categories (ids)."))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("agreement version")
        verbose_name_plural = _("agreement versions")
        ordering = ["agreement", "-number"]
        constraints = [models.UniqueConstraint(fields=["agreement", "number"],
                                               name="agreement_version_unique")]

    def __str__(self) -> str:
        return f"Agreement #{self.agreement_id} v{self.number}"


class Consent(models.Model):
    """An SME's consent to release one trial under one agreement. Never edited but to
    revoke; granting again after a revocation adds a row, so rows are the history."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="consents",
                              verbose_name=_("trial"))
    agreement = models.ForeignKey(SharingAgreement, on_delete=models.CASCADE,
                                  related_name="consents", verbose_name=_("agreement"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("granted by"))
    granted_at = models.DateTimeField(_("granted at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("revoked by"))
    standing = models.BooleanField(_("standing"), default=False,
                                   help_text=_("Granted by the SME's standing consent."))
    version = models.ForeignKey(
        AgreementVersion, on_delete=models.PROTECT, related_name="consents",
        verbose_name=_("agreement version"),
        help_text=_("The version of the agreement's terms consented to."))

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "agreement"],
                                    condition=Q(revoked_at__isnull=True),
                                    name="consent_one_active_per_trial_agreement"),
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"Consent trial #{self.trial_id} × agreement #{self.agreement_id} ({state})"

    def save(self, *args, **kwargs):
        if self.version_id is None:  # bound to the terms in force when it is given
            self.version = self.agreement.current_version()
        super().save(*args, **kwargs)


class StandingConsent(models.Model):
    """An SME's default consent: every collected trial of theirs that an agreement covers
    is consented to automatically (until revoked)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="standing_consents",
                                     verbose_name=_("organisation"))
    agreement = models.ForeignKey(SharingAgreement, on_delete=models.CASCADE,
                                  related_name="standing_consents", verbose_name=_("agreement"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("granted by"))
    granted_at = models.DateTimeField(_("granted at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    version = models.ForeignKey(
        AgreementVersion, on_delete=models.PROTECT, related_name="standing_consents",
        verbose_name=_("agreement version"),
        help_text=_("The version of the agreement's terms consented to: it covers only the "
                    "hub and categories of that version."))

    class Meta:
        verbose_name = _("standing consent")
        verbose_name_plural = _("standing consents")
        constraints = [
            models.UniqueConstraint(fields=["organization", "agreement"],
                                    condition=Q(revoked_at__isnull=True),
                                    name="standing_consent_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.organization} → agreement #{self.agreement_id}"

    def save(self, *args, **kwargs):
        if self.version_id is None:
            self.version = self.agreement.current_version()
        super().save(*args, **kwargs)


def package_path(instance: "DatasetRelease", filename: str) -> str:
    return f"datasets/release-{instance.pk}/{filename}"


class DatasetRelease(models.Model):
    """One trial's data released under one agreement: a Frictionless Data Package zip,
    delivered once (Standard Webhooks) to the university's endpoint."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="releases",
                              verbose_name=_("trial"))
    agreement = models.ForeignKey(SharingAgreement, on_delete=models.PROTECT,
                                  related_name="releases", verbose_name=_("agreement"))
    recipient = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="dataset_releases_received",
        limit_choices_to={"kind": Organization.Kind.UNIVERSITY}, verbose_name=_("recipient"),
        help_text=_("The university the SME consented to release this trial to: the only one "
                    "that ever sees the release, whatever the agreement says later."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.PENDING, db_index=True)
    package = models.FileField(_("data package"), upload_to=package_path, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    webhook_id = models.CharField(_("webhook ID"), max_length=40, unique=True,
                                  help_text=_("Kept for every delivery attempt of this release."))
    message = models.OneToOneField(
        "core.OutboxMessage", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="dataset_release", verbose_name=_("outbox message"),
        help_text=_("The outbox message that delivers this release: its attempts, lease, "
                    "next attempt and log of every attempt."))
    last_error = models.TextField(
        _("last error"), blank=True,
        help_text=_("The last delivery failure as tenants may read it."))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    receipt = models.JSONField(_("receipt"), default=dict, blank=True,
                               help_text=_("The university's 2xx answer: status and body."))
    withdrawn_reason = models.CharField(_("reason for withdrawal"), max_length=200, blank=True)
    held = models.CharField(
        _("held because"), max_length=32, blank=True,
        help_text=_("Why a pending release is not being delivered: 'embargo', or a change of "
                    "terms that waits for the SME's consent (license_changed, "
                    "recipient_changed, scope_changed)."))
    consent = models.ForeignKey(
        "Consent", null=True, blank=True, on_delete=models.SET_NULL, related_name="releases",
        verbose_name=_("consent"), help_text=_("The consent the package was built under."))
    terms = models.JSONField(
        _("terms"), default=dict, blank=True,
        help_text=_("The terms the package was built under: the consented ones, made "
                    "stricter where the agreement's current terms are."))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset release")
        verbose_name_plural = _("dataset releases")
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "agreement"],
                                    name="release_once_per_trial_agreement"),
        ]

    def __str__(self) -> str:
        return _("Release #%(release)s trial #%(trial)s → %(university)s") % {
            "release": self.pk, "trial": self.trial_id, "university": self.recipient}

    def save(self, *args, **kwargs):
        if self.recipient_id is None:  # bound to the recipient consented to when it is made
            self.recipient_id = (self.consent.version.terms["university"] if self.consent_id
                                 else self.agreement.university_id)
        super().save(*args, **kwargs)

    @property
    def attempts(self) -> int:
        """Delivery attempts in the current run (the outbox message's)."""
        return self.message.attempts if self.message_id else 0

    @property
    def delayed(self) -> bool:
        """Pending, but delivery attempts have failed: what the SME sees as 'delayed'."""
        return self.status == self.Status.PENDING and bool(self.last_error)


# --- raw equipment data: what the collector writes -----------------------------------------

class Observation(models.Model):
    """One raw reading from an equipment's source, as the collector received it. The
    collection task turns those in a booking's window into the trial's measurements; rows
    are purged after ``OBSERVATION_RETENTION_DAYS``. A reading delivered twice (an MQTT
    redelivery, an MTConnect sample fetched again after a restart) is stored once."""

    id = models.BigAutoField(primary_key=True)
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, db_index=False,
                                  related_name="+", verbose_name=_("equipment"))
    ts = models.DateTimeField(_("time"), help_text=_("The source's timestamp."))
    metric = models.CharField(_("metric"), max_length=64)
    value = models.FloatField(_("value"))
    unit = models.CharField(_("unit"), max_length=16, blank=True)
    seq = models.BigIntegerField(
        _("sequence"), default=0,
        help_text=_("The source's sequence number (MTConnect), else 0."))

    class Meta:
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        constraints = [models.UniqueConstraint(fields=["equipment", "metric", "ts", "seq"],
                                               name="observation_once")]
        indexes = [models.Index(fields=["equipment", "ts"], name="observation_equipment_ts")]

    def __str__(self) -> str:
        return f"{self.metric}={self.value}{self.unit} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class SourceGap(models.Model):
    """A period without readings from an equipment's source, and why (an agent restart, a
    buffer overflow, a lost connection, no collector running)."""

    class Reason(models.TextChoices):
        AGENT_RESTART = "agent_restart", _("The MTConnect agent restarted")
        BUFFER_OVERFLOW = "buffer_overflow", _("The agent's buffer overflowed")
        DISCONNECTED = "disconnected", _("The connection to the source was lost")
        COLLECTOR_DOWN = "collector_down", _("No collector was running")

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("equipment"))
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    recorded = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("source gap")
        verbose_name_plural = _("source gaps")
        ordering = ["equipment", "start"]
        indexes = [models.Index(fields=["equipment", "start"], name="sourcegap_equipment_start")]

    def __str__(self) -> str:
        return f"{self.reason} {self.start:%H:%M:%S}–{self.end:%H:%M:%S}"


class SourceState(models.Model):
    """Per equipment: the driver's cursor (e.g. the MTConnect agent's instanceId and the next
    sequence), saved with the readings it covers; until when a collector held it; and
    how far its readings are stored."""

    equipment = models.OneToOneField(Equipment, on_delete=models.CASCADE, primary_key=True,
                                     related_name="+", verbose_name=_("equipment"))
    state = models.JSONField(_("driver state"), default=dict, blank=True)
    held_by = models.CharField(_("held by"), max_length=120, blank=True)
    held_until = models.DateTimeField(
        _("held until"), null=True, blank=True,
        help_text=_("The last heartbeat of the collector holding it."))
    stored_until = models.DateTimeField(
        _("stored until"), null=True, blank=True,
        help_text=_("Everything the collector had received before this moment is stored."))
    last_reading = models.DateTimeField(_("last reading"), null=True, blank=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("source state")
        verbose_name_plural = _("source states")

    def __str__(self) -> str:
        return f"Source state of equipment #{self.equipment_id}"


class CollectorHeartbeat(models.Model):
    """A running collector (``manage.py run_collector``), as its last heartbeat said."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    host = models.CharField(_("host"), max_length=200)
    pid = models.PositiveIntegerField(_("process ID"))
    started = models.DateTimeField(_("started"))
    beat = models.DateTimeField(_("last heartbeat"))
    holding = models.JSONField(_("holding"), default=list, blank=True,
                               help_text=_("Ids of the equipment it holds."))
    written = models.BigIntegerField(_("readings stored"), default=0,
                                     help_text=_("Readings stored since it started."))
    stopped = models.DateTimeField(_("stopped"), null=True, blank=True)

    class Meta:
        verbose_name = _("collector heartbeat")
        verbose_name_plural = _("collector heartbeats")
        ordering = ["-beat"]

    def __str__(self) -> str:
        return self.name
