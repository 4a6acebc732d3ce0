"""GET /api/v1/equipment/free/: which equipment (matching the catalogue's filters) has a
bookable period of at least ``min_minutes`` between ``start`` and ``end``, across every
hub, with each one's first free periods; cursor-paginated (``bookings.search``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.serializers import AwareDateTimeField
from core.validators import validate_period
from equipment.api import EquipmentFilter
from equipment.models import Capability, Category, Equipment, Hub
from organizations.api import ActorMixin, HasOrganization

from . import selectors
from .search import PAGE_SIZE, PERIODS_SHOWN, decode_cursor, encode_cursor, free_search

CURSOR_PARAM = "cursor"
INVALID_CURSOR = _("This cursor is not valid; follow the \"next\" link of a previous page.")


class FreeSearchQuerySerializer(serializers.Serializer):
    start = AwareDateTimeField(help_text="ISO 8601 with an offset.")
    end = AwareDateTimeField(help_text="ISO 8601 with an offset; at most "
                                       f"{selectors.MAX_AVAILABILITY_RANGE.days} days after start.")
    min_minutes = serializers.IntegerField(
        required=False, min_value=1,
        max_value=int(selectors.MAX_AVAILABILITY_RANGE.total_seconds()) // 60,
        help_text="The shortest free period wanted, in minutes (each equipment's own minimum "
                  "duration applies too).")
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all(),
                                            required=False)
    capability = serializers.SlugRelatedField(slug_field="slug", required=False,
                                              queryset=Capability.objects.all())
    hub = serializers.SlugRelatedField(slug_field="slug", queryset=Hub.objects.all(),
                                       required=False)
    q = serializers.CharField(required=False, allow_blank=True, max_length=100,
                              help_text="Words in the name, description, category, hub or "
                                        "capabilities (English or Chinese).")
    cursor = serializers.CharField(required=False, max_length=64,
                                   help_text="From the \"next\" link of the previous page.")

    def validate_cursor(self, value: str) -> int:
        after = decode_cursor(value)
        if after is None:
            raise serializers.ValidationError(INVALID_CURSOR)
        return after

    def validate(self, attrs):
        validate_period(attrs["start"], attrs["end"],
                        max_range=selectors.MAX_AVAILABILITY_RANGE)
        return attrs


def _period(start, end, tz: ZoneInfo) -> dict:
    return {"start": start.astimezone(tz).isoformat(), "end": end.astimezone(tz).isoformat()}


class FreeSearchView(ActorMixin, APIView):
    """Who may call: as the availability of one equipment (any organisation's key)."""

    permission_classes = [HasOrganization]

    @extend_schema(
        summary="Equipment free between two times, across every hub",
        description=(
            "The equipment matching the filters that has a bookable period of at least "
            "`min_minutes` (and its own minimum duration) within [start, end), for the "
            "calling organisation (an SME at its open-bookings limit on an equipment sees "
            f"none there). Per equipment, in id order, its first {PERIODS_SHOWN} free periods "
            "(as `/equipment/{id}/availability/` gives them, in the hub's offset) and how many "
            f"more it has. {PAGE_SIZE} per page; follow `next` (a cursor) for more; the cursor "
            "only goes forward (`previous` is null: start again without one)."),
        parameters=[FreeSearchQuerySerializer],
        responses=inline_serializer("FreeSearchPage", {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": inline_serializer("FreeSearchMatch", {
                "equipment": inline_serializer("FreeSearchEquipment", {
                    "id": serializers.IntegerField(),
                    "name": serializers.CharField(),
                    "hub": serializers.CharField(help_text="The hub's slug."),
                    "category": serializers.CharField(help_text="The category's slug."),
                    "timezone": serializers.CharField(),
                    "slot_granularity": serializers.IntegerField(),
                    "min_duration": serializers.IntegerField(),
                    "max_duration": serializers.IntegerField(),
                }),
                "free": inline_serializer("FreeSearchPeriod", {
                    "start": serializers.DateTimeField(),
                    "end": serializers.DateTimeField()}, many=True),
                "more": serializers.IntegerField(help_text="Further free periods not listed."),
            }, many=True),
        }))
    def get(self, request):
        query = FreeSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        filters = {name: data[name].slug for name in ("category", "capability", "hub")
                   if data.get(name)}
        if data.get("q"):
            filters["q"] = data["q"]
        candidates = EquipmentFilter(
            filters, queryset=Equipment.objects.select_related("hub", "category")).qs
        page = free_search(start=data["start"], end=data["end"], equipment=candidates,
                           min_minutes=data.get("min_minutes"), organization=self.org,
                           after=data.get("cursor"))
        url = request.build_absolute_uri()
        return Response({
            "next": (replace_query_param(url, CURSOR_PARAM, encode_cursor(page.next_after))
                     if page.next_after is not None else None),
            "previous": None,  # a forward-only cursor: start again without one
            "results": [self._match(match) for match in page.matches],
        })

    @staticmethod
    def _match(match) -> dict:
        eq = match.equipment
        tz = ZoneInfo(eq.hub.timezone)
        return {
            "equipment": {"id": eq.pk, "name": eq.name, "hub": eq.hub.slug,
                          "category": eq.category.slug, "timezone": eq.hub.timezone,
                          "slot_granularity": eq.slot_granularity,
                          "min_duration": eq.min_duration, "max_duration": eq.max_duration},
            "free": [_period(s, e, tz) for s, e in match.periods],
            "more": match.more,
        }
