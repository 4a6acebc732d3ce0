"""``/api/v1/calendar-feeds/``: an organisation manages its subscription URLs."""

from __future__ import annotations

from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from core.idempotency import idempotent
from organizations.api import ActorMixin, HasOrganization

from ..models import CalendarFeed
from . import services


class CalendarFeedSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The subscription URL (keep it secret).")
    equipment = serializers.IntegerField(source="equipment_id", required=False,
                                         allow_null=True)

    class Meta:
        model = CalendarFeed
        fields = ["id", "name", "equipment", "url", "created"]
        read_only_fields = ["id", "url", "created"]

    def get_url(self, feed) -> str:
        path = f"/calendar/{feed.token}.ics"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CalendarFeedViewSet(ActorMixin, mixins.ListModelMixin, mixins.CreateModelMixin,
                          mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Secret-token iCalendar subscription URLs: your organisation's bookings, or (for
    operators) one equipment's. Deleting a feed revokes its URL."""

    serializer_class = CalendarFeedSerializer
    permission_classes = [HasOrganization]

    def get_queryset(self):
        return CalendarFeed.objects.filter(organization=self.org, revoked_at__isnull=True)

    @idempotent
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        feed = services.create_feed(organization=self.org,
                                    equipment_id=body.validated_data.get("equipment_id"),
                                    name=body.validated_data.get("name", ""))
        return Response(self.get_serializer(feed).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_feed(feed=instance)
