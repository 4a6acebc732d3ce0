from __future__ import annotations

from contextlib import contextmanager

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from core.errors import ValidationFailed, Violation
from core.idempotency import IdempotentCreate, idempotent
from core.serializers import ModelSerializer
from core.validators import DESCRIPTION_MAX_LENGTH, validate_specs
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization
from organizations.selectors import acting_organization

from . import selectors, services, sources
from .hours import validate_opening_hours, validate_timezone
from .models import Capability, Category, Equipment, Hub, MaintenanceWindow

OPERATOR = Organization.Kind.FLAGSHIP


class EnglishText(serializers.CharField):
    """A catalogue text the API reads and writes in English, whatever the request's
    language (the contract): the ``<field>_en`` column of a field the portal shows in the
    reader's language (``equipment/translation.py``)."""

    def __init__(self, field: str, **kwargs):
        self.model_field = field
        super().__init__(source="*", **kwargs)

    def get_attribute(self, instance):
        return getattr(instance, f"{self.model_field}_en", None) or ""

    def run_validation(self, data=serializers.empty):
        # The text is checked (length, blank) as text, then set on the English column.
        return {f"{self.model_field}_en": super().run_validation(data)}


class ChineseText(serializers.CharField):
    """The same catalogue text in Simplified Chinese (the ``<field>_zh_hans`` column), which
    the portal shows to readers in Chinese: null while the operator gave none (the portal
    then shows the English); written as given, blank or null clears it."""

    def __init__(self, field: str, **kwargs):
        self.model_field = field
        super().__init__(
            source="*", required=False, allow_blank=True, allow_null=True,
            help_text=f"The {field} in Simplified Chinese, shown to the portal's Chinese "
                      f"readers; null: none given (they read the English `{field}`). Blank "
                      "or null clears it.", **kwargs)

    def get_attribute(self, instance):
        return getattr(instance, f"{self.model_field}_zh_hans", None) or None

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return {f"{self.model_field}_zh_hans": (value or "").strip() or None}


class HubSerializer(ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    timezone = serializers.CharField(default="Asia/Shanghai", validators=[validate_timezone])
    opening_hours = serializers.JSONField(required=False, validators=[validate_opening_hours])
    name = EnglishText("name", max_length=200)
    name_zh_hans = ChineseText("name", max_length=200)
    address = EnglishText("address", max_length=300, required=False, allow_blank=True)
    address_zh_hans = ChineseText("address", max_length=300)
    description = EnglishText("description", max_length=DESCRIPTION_MAX_LENGTH, required=False,
                              allow_blank=True)
    description_zh_hans = ChineseText("description", max_length=DESCRIPTION_MAX_LENGTH)

    class Meta:
        model = Hub
        fields = ["id", "slug", "name", "name_zh_hans", "operator", "address",
                  "address_zh_hans", "timezone", "opening_hours", "description",
                  "description_zh_hans", "created"]
        read_only_fields = ["id", "created"]


class PolicySerializer(ModelSerializer):
    """The booking policy; durations in minutes, horizon in days."""

    class Meta:
        model = Equipment
        fields = ["slot_granularity", "min_duration", "max_duration", "lead_time",
                  "booking_horizon", "changeover_buffer", "approval_required",
                  "qualification_required", "max_open_bookings_per_sme"]


class DataItemSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="The metric's name in Testbed.")
    unit = serializers.CharField(required=False, allow_blank=True,
                                 help_text="Its unit; by default the agent's (from /probe).")


class NodeSerializer(serializers.Serializer):
    node_id = serializers.CharField(help_text='The OPC UA node, e.g. "ns=2;s=Spindle.Load".')
    metric = serializers.CharField()
    unit = serializers.CharField(required=False, allow_blank=True)


class SecuritySerializer(serializers.Serializer):
    policy = serializers.CharField(required=False,
                                   help_text="None (default) or Basic256Sha256.")
    mode = serializers.CharField(required=False,
                                 help_text="None with policy None, else Sign or SignAndEncrypt "
                                           "(the default).")
    server_certificate = serializers.CharField(
        required=False, allow_blank=True,
        help_text="With Basic256Sha256: the SHA-256 fingerprint of the server's certificate "
                  "(AB:CD:…, as \"test connection\" shows it). Set, a server presenting "
                  "another certificate is refused before the login is sent; empty: the "
                  "certificate the server presents is used.")


def _config(kinds: str, help_text: str, field_class, **kwargs) -> serializers.Field:
    """An optional configuration field of some kinds of source (stored in
    ``result_source_config``; ``equipment.sources`` checks its value)."""
    return field_class(required=False, help_text=f"{kinds}: {help_text}", **kwargs)


class ResultSourceSerializer(serializers.Serializer):
    """Where a trial's results come from: the kind, its URL and its own fields, flat in
    one object; only the fields of the kind given (or, in a PATCH, of the kind stored) are
    accepted. A PATCH that keeps the kind changes the
    fields it names and keeps the others; one that changes the kind starts afresh (and
    forgets the stored secret or password)."""

    kind = serializers.ChoiceField(source="result_source_kind",
                                   choices=Equipment.ResultSourceKind.choices)
    url = serializers.CharField(
        source="result_source_url", required=False, allow_blank=True, max_length=500,
        help_text="http, mtconnect: https://… (the gateway; the agent's base URL); opcua: "
                  "opc.tcp://…; mqtt: mqtts://… (the broker).")
    secret = serializers.CharField(
        required=False, allow_blank=True, write_only=True, max_length=200,
        help_text="http: the bearer secret sent to the gateway. Never shown.")
    password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, max_length=200,
        help_text="opcua, mqtt: the password of `username`. Never shown.")
    device = _config("mtconnect", "the device's name at the agent (default: its only one).",
                     serializers.CharField, allow_blank=True)
    data_items = _config(
        "mtconnect", 'DataItem id → {"metric", "unit"}; DataItems not named keep their id '
        "as the metric.", serializers.DictField, child=DataItemSerializer())
    state_item = _config("mtconnect", "the DataItem whose value says the machine is active "
                                      "(e.g. the Execution id), for actual usage.",
                         serializers.CharField, allow_blank=True)
    poll_ms = _config("mtconnect", "how often the agent is polled (ms, 100–60000; default "
                                   "1000).", serializers.IntegerField)
    nodes = _config("opcua", "the nodes read and the metrics they give.",
                    NodeSerializer, many=True)
    sampling_ms = _config("opcua", "the subscription's sampling interval (ms; default 1000).",
                          serializers.IntegerField)
    mode = _config("opcua", "subscribe (default) during the booking, or history: read the "
                            "server's history of the window.", serializers.CharField)
    security = _config("opcua", "the security policy and mode.", SecuritySerializer)
    username = _config("opcua, mqtt", "the login (with `password`); empty: anonymous.",
                       serializers.CharField, allow_blank=True)
    state_node = _config("opcua", "the node whose value says the machine is active, for "
                                  "actual usage.", serializers.CharField, allow_blank=True)
    topic = _config("mqtt", "the topic filter subscribed to (+ and # allowed).",
                    serializers.CharField)
    format = _config("mqtt", 'json: one reading per message {"ts", "metric", "value", "unit"} '
                             'or several {"ts", "values": {metric: value}, "units": {metric: '
                             'unit}} (without "metric", the topic\'s last level names it); '
                             "sparkplug_b is not supported yet.", serializers.CharField)
    state_metric = _config("mqtt", "the metric whose value says the machine is active, for "
                                   "actual usage.", serializers.CharField, allow_blank=True)

    def validate(self, attrs):
        """The flat fields as the model's: the kind's fields go to its configuration, the
        secret or password to its one secret."""
        stored = self.root.instance
        kind = attrs.get("result_source_kind") or (
            stored.result_source_kind if stored else Equipment.ResultSourceKind.NONE)
        keys = sources.config_keys(kind)
        secret_field = _SECRET_FIELD.get(kind)
        own = keys | ({secret_field} if secret_field else set())
        foreign = sorted(set(attrs) - own - {"result_source_kind", "result_source_url"})
        if foreign:
            fields = ", ".join(sorted(own | {"url"}))
            raise serializers.ValidationError({name: _(
                "Not a field of a %(kind)s source (its fields: %(fields)s).")
                % {"kind": kind, "fields": fields} for name in foreign})
        kept = stored is not None and kind == stored.result_source_kind
        out = {k: v for k, v in attrs.items() if k in ("result_source_kind", "result_source_url")}
        if secret_field in attrs:
            out["result_source_secret"] = attrs[secret_field]
        elif stored is not None and not kept:
            out["result_source_secret"] = ""  # never handed to a source it was not meant for
        given = {k: v for k, v in attrs.items() if k in keys}
        if given or (stored is not None and not kept):
            base = dict(stored.result_source_config or {}) if kept else {}
            out["result_source_config"] = {**base, **given}
        return out

    def to_representation(self, instance):
        """Where the source is (an operator's internal address) and how it is read are the
        hub operator's business: everyone else sees the kind only. Secrets are never
        shown."""
        if self.context.get("_acting_org", False) is False:  # once per response
            request = self.context.get("request")
            self.context["_acting_org"] = acting_organization(
                getattr(request, "user", None))
        org = self.context["_acting_org"]
        kind = instance.result_source_kind
        if org is None or org.pk != instance.hub.operator_id:
            return {"kind": kind}
        keys, config = sources.config_keys(kind), instance.result_source_config or {}
        return {"kind": kind, "url": instance.result_source_url,
                **{name: config[name] for name in self.fields if name in keys and name in config}}


# Which field of the API carries a kind's one secret (Equipment.result_source_secret).
_SECRET_FIELD = {"http": "secret", **{kind: "password" for kind in sources.WITH_LOGIN}}


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
    name = EnglishText("name", max_length=200)
    name_zh_hans = ChineseText("name", max_length=200)
    description = EnglishText("description", max_length=DESCRIPTION_MAX_LENGTH, required=False,
                              allow_blank=True)
    description_zh_hans = ChineseText("description", max_length=DESCRIPTION_MAX_LENGTH)

    class Meta:
        model = Equipment
        fields = ["id", "hub", "slug", "name", "name_zh_hans", "category", "capabilities",
                  "specs", "description", "description_zh_hans", "status", "hourly_rate",
                  "timezone", "policy", "result_source", "created", "updated",
                  "cancelled_bookings"]
        read_only_fields = ["id", "created", "updated"]


# Model field → the name the API uses for it (nested objects), for error reports.
API_FIELD_NAMES = {
    **{f"{f}_en": f for f in ("name", "address", "description")},
    **{f: f"policy.{f}" for f in PolicySerializer.Meta.fields},
    "result_source_kind": "result_source.kind",
    "result_source_url": "result_source.url",
    "result_source_secret": "result_source.secret",
    "result_source_config": "result_source",
    **{f"result_source_config.{key}": f"result_source.{key}"
       for key in sources.all_config_keys()},
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
    # As long as the portal's search box allows: a longer text is a 400, not a query
    # too deep for the database.
    q = django_filters.CharFilter(method="filter_q", label="Free text", max_length=100)

    class Meta:
        model = Equipment
        fields = ["hub", "category", "capability", "status", "q"]

    def filter_capability(self, qs, name, value):
        # Several capabilities may be given, comma-separated: equipment must have all.
        return selectors.with_capabilities(qs, [v for v in value.split(",") if v])

    def filter_q(self, qs, name, value):
        return selectors.search_equipment(qs, value)


@extend_schema_view(list=extend_schema(summary="Hubs"))
class HubViewSet(IdempotentCreate, ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                 mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = HubSerializer
    permission_classes = [HasOrganization]
    lookup_field = "slug"
    # A slug's letters: anything else (a NUL, which PostgreSQL cannot compare) is a 404
    # before any lookup, as the other resources' ids are.
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,80}"
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
