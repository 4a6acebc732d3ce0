"""``/api/v1/webhooks/``: an organisation's event webhook endpoints (Standard Webhooks)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from core import outbound, services
from core.models import WebhookEndpoint
from core.serializers import ModelSerializer

from .api import ActorMixin, HasOrganization
from .models import Organization

EVENT_TYPES = (
    "booking.requested", "booking.confirmed", "booking.rejected", "booking.cancelled",
    "booking.checked_in", "booking.completed", "booking.no_show", "booking.reminder",
    "trial.collected", "dataset.released",
)


def validate_event_types(patterns: list[str]) -> list[str]:
    unknown = [p for p in patterns if not any(fnmatchcase(e, p) for e in EVENT_TYPES)]
    if unknown:
        raise serializers.ValidationError(
            f"No event type matches {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)} "
            "(patterns such as 'booking.*' are allowed).")
    return patterns


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
