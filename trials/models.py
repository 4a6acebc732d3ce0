from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking


class Trial(models.Model):
    """The trial run in one booking. It shares the booking's id (the booking is its primary
    key): a trial exists from the booking's confirmation until it is cancelled or lapses."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        COLLECTING = "collecting", _("Collecting")
        COLLECTED = "collected", _("Collected")
        FAILED = "failed", _("Failed")

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, primary_key=True,
                                   related_name="trial")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text=_("Collection attempts so far."))
    last_error = models.TextField(blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(
        default=dict, blank=True,
        help_text=_("Per metric: count, min, max, mean, unit, first and last timestamp."))
    measurement_count = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-booking__start"]

    def __str__(self) -> str:
        return f"Trial #{self.pk} ({self.status})"


class Measurement(models.Model):
    """One reading from the equipment. Many rows per trial; loaded in bulk (COPY)."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="measurements")
    ts = models.DateTimeField()
    metric = models.CharField(max_length=64)
    value = models.FloatField()
    unit = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["trial", "metric", "ts"], name="measurement_trial_metric_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value}{self.unit} @ {self.ts:%Y-%m-%d %H:%M:%S}"


def result_file_path(instance: "ResultFile", filename: str) -> str:
    return f"results/trial-{instance.trial_id}/{instance.sha256[:16]}-{filename}"


class ResultFile(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=result_file_path)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["trial", "sha256"],
                                               name="resultfile_unique_per_trial")]

    def __str__(self) -> str:
        return self.name
