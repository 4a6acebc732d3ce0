from fnmatch import fnmatchcase

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import outbound


class IdempotencyKey(models.Model):
    """The first response to a creating POST, kept so that a retry with the same
    ``Idempotency-Key`` returns it and creates nothing. Written in the same transaction
    as what the POST created."""

    scope = models.CharField(_("scope"), max_length=100,
                             help_text=_("Whose key space, e.g. 'org:42'."))
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("fingerprint"), max_length=64,
                                   help_text=_("sha256 of method, path and body."))
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"), encoder=DjangoJSONEncoder)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class WebhookEndpoint(models.Model):
    """An organisation's endpoint for event webhooks (Standard Webhooks)."""

    # Hub operators (flagship firms) hear about their hubs' bookings and trials; the
    # organisation's kind is checked wherever an endpoint is made (its validation).
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE,
        related_name="webhook_endpoints", verbose_name=_("organisation"),
        limit_choices_to={"kind": "flagship"},
        error_messages={"invalid": _("Only a hub operator (a flagship firm) has webhook "
                                     "endpoints.")})
    url = models.URLField(_("URL"))
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(
        _("event types"), default=list,
        help_text=_("Patterns of event types to receive, e.g. ['booking.*', "
                    "'trial.collected']."))
    secret = models.CharField(_("signing secret"), max_length=80, editable=False)
    active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("reason for disabling"), max_length=200, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.url

    @property
    def disabled_reason_shown(self) -> str:
        """Why it was disabled, in the active language."""
        from .webhooks import disabled_reason_shown

        return disabled_reason_shown(self.disabled_reason)

    def wants(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pattern) for pattern in self.event_types)

    def clean(self):
        # The outbound guard (deployment-wide allowances only: an endpoint belongs to an
        # organisation, not to a hub); checked again at every delivery.
        if self.url:
            try:
                outbound.check_url(self.url, field="url")
            except outbound.OutboundRefused as exc:
                raise exc.as_django() from None


class OutboxMessage(models.Model):
    """A notification to send (an e-mail or a webhook), written in the transaction that
    decided it must go out. ``dedupe_key`` is unique: the same notification is never
    queued twice, however often the code that queues it runs. ``prepared`` messages are
    worked out at send time by the app that emits them (see ``core.outbox``)."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")
        PREPARED = "prepared", _("Webhook prepared at send time")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed (gave up)")
        CANCELLED = "cancelled", _("Cancelled")

    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    event_type = models.CharField(_("event type"), max_length=40, db_index=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=200, unique=True)
    recipient = models.CharField(_("recipient"), max_length=300,
                                 help_text=_("E-mail address or endpoint URL."))
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="messages",
                                 verbose_name=_("endpoint"))
    message_id = models.CharField(_("message ID"), max_length=40,
                                  help_text=_("Stable across retries."))
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    sending_until = models.DateTimeField(_("sending until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    ordering_key = models.CharField(
        _("ordering key"), max_length=300, blank=True,
        help_text=_("Messages with the same key go out in the order of their sequence: one is "
                    "not sent while an earlier one is still pending. One key per subject and "
                    "destination, e.g. 'booking:42|webhook:7'. Empty: not ordered."))
    sequence = models.BigIntegerField(
        _("sequence"), null=True, blank=True,
        help_text=_("Position within the ordering key (e.g. the booking event's id)."))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            # "Is an earlier message of this key still pending?", asked before each send.
            models.Index(fields=["ordering_key", "sequence"], name="outbox_pending_in_order",
                         condition=Q(status="pending") & ~Q(ordering_key="")),
            # An endpoint's deliveries in cursor pages, newest first (organizations.
            # webhooks_api): keyset on (created, id) within the endpoint.
            models.Index(fields=["endpoint", "created", "id"],
                         name="outbox_endpoint_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.event_type} → {self.recipient} ({self.status})"

    @property
    def last_error_shown(self) -> str:
        """The last attempt's error (or why it was given up), in the active language."""
        from .webhooks import error_shown

        return error_shown(self.last_error)


class DeliveryLog(models.Model):
    """Every attempt to send an outbox message: when, and what the other side said."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="log",
                                verbose_name=_("message"))
    at = models.DateTimeField(_("at"), db_index=True)
    ok = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    response_excerpt = models.TextField(_("response excerpt"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("delivery log entry")
        verbose_name_plural = _("delivery log")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else self.error}"
