"""``/api/v1/webhooks/``: an organisation's event webhook endpoints (Standard Webhooks)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import events, outbound, services
from core.idempotency import idempotent
from core.models import DeliveryLog, OutboxMessage, WebhookEndpoint
from core.pagination import CursorPage
from core.serializers import ModelSerializer

from .api import ActorMixin, HasOrganization
from .models import Organization
from .selectors import webhook_deliveries


def validate_event_types(patterns: list[str]) -> list[str]:
    """Every pattern matches at least one event type some app registered (core.events)."""
    unknown = events.unmatched(patterns)
    if unknown:
        raise serializers.ValidationError(
            _("No event type matches %(patterns)s; known: %(known)s (patterns such as "
              "'booking.*' are allowed).") % {"patterns": ", ".join(unknown),
                                              "known": ", ".join(events.event_types())})
    return patterns


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class WebhookEndpointSerializer(ModelSerializer):
    event_types = serializers.ListField(child=serializers.CharField(max_length=40),
                                        allow_empty=False, validators=[validate_event_types])

    def validate_url(self, value: str) -> str:
        """The outbound guard: 400 with a field error for an address Testbed may not
        call (checked again at every delivery)."""
        try:
            outbound.check_url(value, field="url")
        except outbound.OutboundRefused as exc:
            raise serializers.ValidationError(exc.message, code=outbound.CODE) from None
        return value

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "active", "consecutive_failures",
                  "disabled_at", "disabled_reason", "created"]
        read_only_fields = ["id", "consecutive_failures", "disabled_at", "disabled_reason",
                            "created"]


class WebhookEndpointViewSet(ActorMixin, viewsets.ModelViewSet):
    """Operators register endpoints for ``booking.*``, ``trial.collected`` and
    ``dataset.released``. The signing secret (whsec_…) is shown once, on creation. An
    endpoint failing 10 deliveries in a row is disabled; PATCH ``{"active": true}``
    turns it back on."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = [HasOrganization]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(organization=self.org)

    @extend_schema(responses=EventTypeSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="event-types", pagination_class=None)
    def event_types(self, request):
        """The event types an endpoint may subscribe to, with what each announces."""
        return Response(EventTypeSerializer(
            [{"name": name, "description": str(description)}
             for name, description in events.event_types().items()], many=True).data)

    @idempotent
    def create(self, request, *args, **kwargs):
        self.require_kind(Organization.Kind.FLAGSHIP)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_endpoint(organization=self.org,
                                            data=dict(serializer.validated_data))
        data = self.get_serializer(endpoint).data
        data["secret"] = endpoint.secret
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        # Re-enabling is a fresh start (failure count reset): the service's rule, the
        # same in the admin console.
        serializer.instance = services.update_endpoint(endpoint=serializer.instance,
                                                       data=dict(serializer.validated_data))

    def perform_destroy(self, instance):
        services.delete_endpoint(endpoint=instance)


# --- deliveries ---------------------------------------------------------------------------

class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryLog
        fields = ["at", "ok", "status_code", "error", "duration_ms"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    """One message to the endpoint (an event, signed and sent with retries) and every
    attempt to deliver it."""

    last_error = serializers.SerializerMethodField(
        help_text="Why the last attempt failed; empty once the message is sent (as the "
                  "console shows it).")
    log = DeliveryAttemptSerializer(many=True, read_only=True,
                                    help_text="Every attempt, oldest first.")

    class Meta:
        model = OutboxMessage
        fields = ["message_id", "event_type", "status", "attempts", "created", "sent_at",
                  "next_attempt_at", "last_error", "log"]
        read_only_fields = fields

    def get_last_error(self, instance) -> str:
        return "" if instance.status == OutboxMessage.Status.SENT else instance.last_error


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OutboxMessage.Status.choices)

    class Meta:
        model = OutboxMessage
        fields = ["status"]


class WebhookDeliveriesView(ActorMixin, generics.ListAPIView):
    """The endpoint's messages, newest first; filter ``status=pending`` for those still
    being retried or ``status=failed`` for those given up on."""

    serializer_class = DeliverySerializer
    permission_classes = [HasOrganization]
    filterset_class = DeliveryFilter
    # Messages only grow: cursor pages, answered by the outbox_endpoint_created_id index.
    pagination_class = CursorPage.by("-created", "-id")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator asking
            return OutboxMessage.objects.none()
        return webhook_deliveries(self.org, self.kwargs["pk"])

    @extend_schema(summary="Deliveries to a webhook endpoint", description=(
        "The messages sent (or still to send) to one of your endpoints, newest first, in "
        "cursor pages, each with its delivery attempts: status, attempts, when it was "
        "sent, when the next retry is due and the last error. Another organisation's "
        "endpoint is not found."))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
