from __future__ import annotations

from contextlib import contextmanager

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from core.errors import ValidationFailed, Violation
from core.idempotency import IdempotentCreate, idempotent
from core.serializers import ModelSerializer
from core.validators import DESCRIPTION_MAX_LENGTH, validate_specs
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization
from organizations.selectors import acting_organization

from . import selectors, services
from .hours import validate_opening_hours, validate_timezone
from .models import Capability, Category, Equipment, Hub, MaintenanceWindow

OPERATOR = Organization.Kind.FLAGSHIP


class HubSerializer(ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    timezone = serializers.CharField(default="Asia/Shanghai", validators=[validate_timezone])
    opening_hours = serializers.JSONField(required=False, validators=[validate_opening_hours])

    class Meta:
        model = Hub
        fields = ["id", "slug", "name", "operator", "address", "timezone", "opening_hours",
                  "description", "created"]
        read_only_fields = ["id", "created"]
        extra_kwargs = {"description": {"max_length": DESCRIPTION_MAX_LENGTH}}


class PolicySerializer(ModelSerializer):
    """The booking policy; durations in minutes, horizon in days."""

    class Meta:
        model = Equipment
        fields = ["slot_granularity", "min_duration", "max_duration", "lead_time",
                  "booking_horizon", "changeover_buffer", "approval_required",
                  "qualification_required", "max_open_bookings_per_sme"]


class ResultSourceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(source="result_source_kind",
                                   choices=Equipment.ResultSourceKind.choices)
    url = serializers.URLField(source="result_source_url", required=False, allow_blank=True)
    secret = serializers.CharField(source="result_source_secret", required=False,
                                   allow_blank=True, write_only=True)

    def to_representation(self, instance):
        """Where the gateway is (an operator's internal address) is the hub operator's
        business: everyone else sees the kind only. Secrets are never shown."""
        data = super().to_representation(instance)
        if self.context.get("_acting_org", False) is False:  # once per response
            request = self.context.get("request")
            self.context["_acting_org"] = acting_organization(
                getattr(request, "user", None))
        org = self.context["_acting_org"]
        if org is None or org.pk != instance.hub.operator_id:
            return {"kind": data["kind"]}
        return data


class CancelledBookingsMixin(serializers.Serializer):
    cancelled_bookings = serializers.SerializerMethodField(
        help_text="Ids of the bookings this request cancelled (requested or confirmed "
                  "bookings the change made impossible); empty otherwise.")

    def get_cancelled_bookings(self, instance) -> list[int]:
        # Set by the service on the object it returns (create_maintenance_window,
        # update_equipment); absent on reads.
        return list(getattr(instance, "cancelled_bookings", []))


class EquipmentSerializer(CancelledBookingsMixin, ModelSerializer):
    hub = serializers.SlugRelatedField(slug_field="slug", queryset=Hub.objects.all())
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())
    capabilities = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                                queryset=Capability.objects.all())
    policy = PolicySerializer(source="*", required=False)
    result_source = ResultSourceSerializer(source="*", required=False)
    timezone = serializers.CharField(source="hub.timezone", read_only=True)
    # A multipart "null" parses to None past allow_null: the validator refuses it (a 400).
    specs = serializers.JSONField(required=False, validators=[validate_specs],
                                  help_text=Equipment._meta.get_field("specs").help_text)

    class Meta:
        model = Equipment
        fields = ["id", "hub", "slug", "name", "category", "capabilities", "specs",
                  "description", "status", "hourly_rate", "timezone", "policy", "result_source",
                  "created", "updated", "cancelled_bookings"]
        read_only_fields = ["id", "created", "updated"]
        extra_kwargs = {"description": {"max_length": DESCRIPTION_MAX_LENGTH}}


# Model field → the name the API uses for it (nested objects), for error reports.
API_FIELD_NAMES = {
    **{f: f"policy.{f}" for f in PolicySerializer.Meta.fields},
    "result_source_kind": "result_source.kind",
    "result_source_url": "result_source.url",
    "result_source_secret": "result_source.secret",
}


@contextmanager
def api_field_names():
    """Report a service's validation errors under the field names the client sent."""
    try:
        yield
    except ValidationFailed as exc:
        raise ValidationFailed([
            Violation(v.code, API_FIELD_NAMES.get(v.field, v.field), v.message)
            for v in exc.violations], exc.message) from None


class EquipmentFilter(django_filters.FilterSet):
    hub = django_filters.CharFilter(field_name="hub__slug")
    category = django_filters.CharFilter(field_name="category__slug")
    capability = django_filters.CharFilter(method="filter_capability")
    status = django_filters.ChoiceFilter(choices=Equipment.Status.choices)
    q = django_filters.CharFilter(method="filter_q", label="Free text")

    class Meta:
        model = Equipment
        fields = ["hub", "category", "capability", "status", "q"]

    def filter_capability(self, qs, name, value):
        # Several capabilities may be given, comma-separated: equipment must have all.
        for slug in [v for v in value.split(",") if v]:
            qs = qs.filter(capabilities__slug=slug)
        return qs.distinct()

    def filter_q(self, qs, name, value):
        return selectors.search_equipment(qs, value)


@extend_schema_view(list=extend_schema(summary="Hubs"))
class HubViewSet(IdempotentCreate, ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                 mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = HubSerializer
    permission_classes = [HasOrganization]
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_fields = ["operator__slug"]

    def get_queryset(self):
        if self.action in ("partial_update", "update"):
            return selectors.hubs_operated_by(self.org)
        return selectors.hub_list()

    def perform_create(self, serializer):
        serializer.instance = services.create_hub(operator=self.org,
                                                  data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_hub(hub=serializer.instance, by=self.org,
                                                  data=serializer.validated_data)


class EquipmentViewSet(IdempotentCreate, ActorMixin, mixins.ListModelMixin,
                       mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                       viewsets.GenericViewSet):
    serializer_class = EquipmentSerializer
    permission_classes = [HasOrganization]
    filterset_class = EquipmentFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.action in ("partial_update", "update"):
            return selectors.equipment_operated_by(self.org)
        return selectors.equipment_list()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        hub, caps = data.pop("hub"), data.pop("capabilities", None)
        with api_field_names():
            serializer.instance = services.create_equipment(hub=hub, by=self.org, data=data,
                                                            capabilities=caps)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        caps = data.pop("capabilities", None)
        with api_field_names():
            serializer.instance = services.update_equipment(
                equipment=serializer.instance, by=self.org, data=data, capabilities=caps,
                by_user=self.actor_user)


class MaintenanceWindowSerializer(CancelledBookingsMixin, ModelSerializer):
    equipment = serializers.PrimaryKeyRelatedField(queryset=Equipment.objects.all())

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "equipment", "start", "end", "reason", "created", "cancelled_bookings"]
        read_only_fields = ["id", "created"]


class MaintenanceWindowViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                               mixins.CreateModelMixin, mixins.DestroyModelMixin,
                               viewsets.GenericViewSet):
    """Maintenance on the caller's own equipment. Creating one cancels the active bookings
    it overlaps, each with the reason recorded."""

    serializer_class = MaintenanceWindowSerializer
    permission_classes = [HasOrganization]
    filterset_fields = ["equipment"]

    def get_queryset(self):
        return selectors.maintenance_windows_for_operator(self.org)

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        if "equipment" in getattr(serializer, "fields", {}):
            serializer.fields["equipment"].queryset = selectors.equipment_operated_by(self.org)
        return serializer

    @idempotent
    def create(self, request, *args, **kwargs):
        # Before the body is validated: an SME gets 403, not a 400 about equipment it
        # cannot see.
        self.require_kind(OPERATOR)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        d = serializer.validated_data
        serializer.instance = services.create_maintenance_window(
            equipment=d["equipment"], by=self.org, start=d["start"], end=d["end"],
            reason=d["reason"], by_user=self.actor_user)

    def perform_destroy(self, instance):
        services.delete_maintenance_window(window=instance, by=self.org)
