"""API v1 routes of billing.requests (registered by testbed/api.py): service requests.

``/api/v1/service-requests/``: GET (SME: its own; operator: at its hubs; filter
``status``), POST (SME; JSON, or multipart with ``attachments`` files; Idempotency-Key).
``{id}/``: GET. Actions (POST): ``offer/`` (operator; Idempotency-Key), ``refuse/``
(operator), ``accept/`` (SME; books every piece at once; Idempotency-Key), ``decline/``
and ``withdraw/`` (SME). Parse, call the service, render: the rules are the service's.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from billing.models import ServiceRequest
from bookings.api import BookingSerializer
from core.idempotency import idempotent
from core.pagination import CursorPage
from core.serializers import AwareDateTimeField
from organizations.api import ActorMixin, HasOrganization
from pricing.models import Quote, QuoteLine

from . import selectors, services

# Paths beside the router's, e.g. actions that are not viewset routes.
extra_urlpatterns: list = []


def _stamp(value, tz: ZoneInfo):
    return value.astimezone(tz).isoformat() if value else None


class OfferLineSerializer(serializers.ModelSerializer):
    """One priced line of the offer; `voucher_share`/`sme_share` are zero and the whole
    amount until the SME accepts with a voucher grant (each booking's own quote splits)."""

    item = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = QuoteLine
        fields = ["position", "kind", "equipment", "item", "start", "end", "quantity", "unit",
                  "unit_price", "amount"]
        read_only_fields = fields


class OfferSerializer(serializers.ModelSerializer):
    lines = OfferLineSerializer(many=True, read_only=True)

    class Meta:
        model = Quote
        fields = ["id", "status", "total", "valid_until", "note", "created", "lines"]
        read_only_fields = fields


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    content_type = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True)
    sha256 = serializers.CharField(read_only=True)
    uploaded = serializers.DateTimeField(read_only=True)


class ServiceRequestSerializer(serializers.ModelSerializer):
    """A service request; times in the hub's time zone (with its offset)."""

    hub = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    equipment = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                                   help_text="The equipment wanted (ids).")
    offer = OfferSerializer(read_only=True, allow_null=True,
                            help_text="The hub's offer, once quoted; null before.")
    bookings = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="The bookings made when the offer was accepted.")
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = ServiceRequest
        fields = ["id", "hub", "organization", "title", "plan", "equipment", "preferred_start",
                  "preferred_end", "status", "reason", "offer", "bookings", "attachments",
                  "created", "decided_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        tz = ZoneInfo(instance.hub.timezone)
        for key in ("preferred_start", "preferred_end", "created", "decided_at"):
            data[key] = _stamp(getattr(instance, key), tz)
        offer = data.get("offer")
        if offer:
            offer["valid_until"] = _stamp(instance.offer.valid_until, tz)
            offer["created"] = _stamp(instance.offer.created, tz)
            # The prefetched lines (QuoteLine's ordering is by position, as "lines" above).
            for line, row in zip(instance.offer.lines.all(), offer["lines"], strict=True):
                row["start"], row["end"] = _stamp(line.start, tz), _stamp(line.end, tz)
        return data


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "binary"}})
class _Files(serializers.ListField):
    child = serializers.FileField()


class ServiceRequestCreateSerializer(serializers.Serializer):
    hub = serializers.SlugField(help_text="The hub's slug.")
    title = serializers.CharField(max_length=services.TITLE_MAX_LENGTH)
    plan = serializers.CharField(max_length=services.PLAN_MAX_LENGTH,
                                 help_text="The trial plan: what the hub's staff should run.")
    equipment = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1,
        max_length=services.MAX_EQUIPMENT,
        help_text="Ids of 1 to 5 pieces of the hub's equipment, used together.")
    preferred_start = AwareDateTimeField()
    preferred_end = AwareDateTimeField()
    attachments = _Files(required=False, help_text="Files (multipart only): PDF, PNG, JPEG, "
                                                   "STEP, DXF or ZIP.")


class PeriodSerializer(serializers.Serializer):
    equipment = serializers.IntegerField(min_value=1)
    start = AwareDateTimeField()
    end = AwareDateTimeField()


class ItemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=60, help_text="The item's code on the rate card.")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4)


class OfferCreateSerializer(serializers.Serializer):
    periods = PeriodSerializer(many=True, help_text="One period per requested equipment.")
    items = ItemSerializer(many=True, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    valid_until = AwareDateTimeField()


class AcceptSerializer(serializers.Serializer):
    voucher_grant = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                             help_text="One of your voucher grants' ids.")
    if_voucher_short = serializers.ChoiceField(
        choices=Quote.Shortfall.choices, default=Quote.Shortfall.SME_PAYS,
        help_text="What to do when the voucher cannot cover its full share.")


class AcceptedSerializer(serializers.Serializer):
    service_request = ServiceRequestSerializer()
    bookings = BookingSerializer(many=True)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ServiceRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ServiceRequest.Status.choices)
    hub = django_filters.CharFilter(field_name="hub__slug")

    class Meta:
        model = ServiceRequest
        fields = ["status", "hub"]


class ServiceRequestViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            viewsets.GenericViewSet):
    serializer_class = ServiceRequestSerializer
    permission_classes = [HasOrganization]
    filterset_class = ServiceRequestFilter
    pagination_class = CursorPage.by("-created", "-id")  # requests only grow
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return (selectors.requests_visible_to(self.org)
                .prefetch_related("bookings", "attachments", "offer__lines__item")
                .order_by("-created", "-pk"))

    def _render(self, service_request: ServiceRequest, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=service_request.pk)
        return Response(ServiceRequestSerializer(fresh).data, status=code)

    @extend_schema(summary="Ask a hub for a staff-assisted trial",
                   request={"application/json": ServiceRequestCreateSerializer,
                            "multipart/form-data": ServiceRequestCreateSerializer},
                   responses={201: ServiceRequestSerializer})
    @idempotent
    def create(self, request):
        body = ServiceRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        created = services.submit_request(
            organization=self.org, hub_slug=d["hub"], title=d["title"], plan=d["plan"],
            equipment_ids=d["equipment"], preferred_start=d["preferred_start"],
            preferred_end=d["preferred_end"], uploads=d.get("attachments") or (),
            by_user=self.actor_user)
        return self._render(created, status.HTTP_201_CREATED)

    @extend_schema(summary="Answer a service request with an offer (operator)",
                   request=OfferCreateSerializer, responses={201: ServiceRequestSerializer})
    @idempotent
    @action(detail=True, methods=["post"])
    def offer(self, request, pk=None):
        body = OfferCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        selectors.request_for(self.org, pk)  # 404 before anything else
        answered = services.send_offer(
            request_id=int(pk), operator=self.org,
            periods=[(p["equipment"], p["start"], p["end"]) for p in d["periods"]],
            items=[(i["code"], i["quantity"]) for i in d.get("items", ())],
            note=d.get("note", ""), valid_until=d["valid_until"], by_user=self.actor_user)
        return self._render(answered, status.HTTP_201_CREATED)

    @extend_schema(summary="Accept the offer: book every piece of equipment at once (SME)",
                   request=AcceptSerializer, responses={201: AcceptedSerializer})
    @idempotent
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        selectors.request_for(self.org, pk)
        bookings = services.accept_offer(
            request_id=int(pk), organization=self.org, grant_id=d.get("voucher_grant"),
            shortfall=d["if_voucher_short"], by_user=self.actor_user)
        fresh = self.get_queryset().get(pk=int(pk))
        return Response({"service_request": ServiceRequestSerializer(fresh).data,
                         "bookings": BookingSerializer(bookings, many=True).data},
                        status=status.HTTP_201_CREATED)

    def _close(self, request, pk, service, **kwargs):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        selectors.request_for(self.org, pk)
        closed = service(request_id=int(pk), reason=body.validated_data.get("reason", ""),
                         by_user=self.actor_user, **kwargs)
        return self._render(closed)

    @extend_schema(summary="Decline the offer (SME)", request=ReasonSerializer,
                   responses=ServiceRequestSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        return self._close(request, pk, services.decline_offer, organization=self.org)

    @extend_schema(summary="Withdraw the request (SME)", request=ReasonSerializer,
                   responses=ServiceRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._close(request, pk, services.withdraw_request, organization=self.org)

    @extend_schema(summary="Refuse the request, saying why (operator)",
                   request=ReasonSerializer, responses=ServiceRequestSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        return self._close(request, pk, services.refuse_request, operator=self.org)


def register(router) -> None:
    """Register this area's viewsets on the API v1 router."""
    router.register("service-requests", ServiceRequestViewSet, basename="service-request")
