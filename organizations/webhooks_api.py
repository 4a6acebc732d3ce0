"""``/api/v1/webhooks/``: an organisation's event webhook endpoints (Standard Webhooks)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.db import transaction
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from core import webhooks
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
        endpoint = serializer.save(organization=self.org, secret=webhooks.new_secret())
        data = self.get_serializer(endpoint).data
        data["secret"] = endpoint.secret
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        was_active = serializer.instance.active
        with transaction.atomic():
            endpoint = serializer.save()
            if endpoint.active and not was_active:  # re-enabled by its owner: a fresh start
                endpoint.disabled_at, endpoint.disabled_reason = None, ""
                endpoint.consecutive_failures = 0
                endpoint.save(update_fields=["disabled_at", "disabled_reason",
                                             "consecutive_failures"])
