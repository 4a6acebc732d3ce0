"""``/api/v1/webhooks/``: an organisation's event webhook endpoints (Standard Webhooks)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import events, outbound, services
from core.idempotency import idempotent
from core.models import WebhookEndpoint
from core.serializers import ModelSerializer

from .api import ActorMixin, HasOrganization
from .models import Organization


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
