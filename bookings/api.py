from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Conflict
from core.filters import IdFilter, IsoDateTimeFilter
from core.idempotency import idempotent
from core.pagination import CursorPage
from core.serializers import AwareDateTimeField
from core.validators import validate_period
from equipment.errors import EQUIPMENT_NOT_FOUND
from equipment.models import Equipment
from organizations.api import ActorMixin, HasOrganization
from pricing.api import BookingQuoteSerializer, booking_quote_data
from pricing.models import Quote, QuoteLine

from . import selectors, services
from .models import Booking
from .reports.selectors import usage


class BookingCreateSerializer(serializers.Serializer):
    equipment = serializers.IntegerField(min_value=1)
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    purpose = serializers.CharField(max_length=10_000, help_text="The trial plan.")
    trial_lead = serializers.EmailField(
        required=False, allow_blank=True,
        help_text="E-mail of the SME member who runs the trial (needed with an API key "
                  "where the equipment requires a qualification).")
    voucher_grant = serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="One of your innovation-voucher grants (GET /api/v1/vouchers/): it pays "
                  "its programme's share of the eligible lines, within its caps.")
    if_voucher_short = serializers.ChoiceField(
        choices=Quote.Shortfall.choices, required=False, default=Quote.Shortfall.SME_PAYS,
        help_text="When the voucher cannot cover its full share: the firm pays the rest "
                  "(sme_pays) or the booking is refused with 409 voucher_exhausted (refuse).")
    quote = serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="An estimate you asked for (POST /api/v1/quotes/): while it is open and "
                  "for this equipment and period, the booking keeps its prices.")

    def validate(self, attrs):
        validate_period(attrs["start"], attrs["end"])
        return attrs


class UsageSerializer(serializers.Serializer):
    """Booked vs actual use of a booking: usage evidence from the equipment's state signal
    (MTConnect Execution, an OPC UA state node, an MQTT state metric), recorded when the
    trial is collected."""

    booked_hours = serializers.DecimalField(max_digits=8, decimal_places=2, read_only=True,
                                            help_text="The booked slot's length in hours.")
    actual_hours = serializers.DecimalField(
        max_digits=8, decimal_places=2, read_only=True, allow_null=True,
        help_text="How long the machine was active within the slot; null without usage "
                  "evidence (no state signal, or not collected yet).")
    actual_start = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text="When the machine first became active in the slot; null as above.")
    actual_end = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text="When the machine was last active in the slot; null as above.")

    def to_representation(self, instance):
        return super().to_representation(usage(instance))


TRIAL_STATUSES = (Booking.Status.CONFIRMED, Booking.Status.CHECKED_IN, Booking.Status.COMPLETED)
ENDED_STATUSES = (Booking.Status.CANCELLED, Booking.Status.NO_SHOW)


class BookingSerializer(serializers.ModelSerializer):
    """A booking; times are shown in the hub's time zone (with its offset)."""

    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    hub = serializers.CharField(source="equipment.hub.slug", read_only=True)
    equipment_name = serializers.CharField(source="equipment.name", read_only=True)
    trial_lead = serializers.EmailField(source="trial_lead.email", read_only=True,
                                        allow_null=True, default=None)
    trial = serializers.SerializerMethodField(
        help_text="The trial's id once the booking is confirmed (a trial shares its "
                  "booking's id); null before and after a cancellation.")
    decision_reason = serializers.CharField(
        read_only=True, help_text="The hub operator's reason for approving or rejecting.")
    cancellation_reason = serializers.SerializerMethodField(
        help_text="Why a cancelled (or missed) booking ended, as recorded in its history: "
                  "as typed, or, written by the platform, in the request's language "
                  "(Accept-Language); null for other statuses.")
    cancellation_reason_code = serializers.SerializerMethodField(
        help_text="Where the platform wrote that reason, its stable code (e.g. "
                  "no_check_in, maintenance, equipment_down); else null.")
    usage = UsageSerializer(source="*", read_only=True)
    quote = BookingQuoteSerializer(
        read_only=True, allow_null=True,
        help_text="The lines the booking was priced with and their voucher split (`price` "
                  "is its total); null for a booking priced before quotes existed.")

    class Meta:
        model = Booking
        fields = ["id", "equipment", "equipment_name", "hub", "organization", "start", "end",
                  "status", "purpose", "price", "trial_lead", "decision_reason", "decided_at",
                  "checked_in_at", "completed_at", "created", "trial", "cancellation_reason",
                  "cancellation_reason_code", "usage", "quote"]
        read_only_fields = fields

    def get_trial(self, instance) -> int | None:
        # A trial exists exactly while the booking is confirmed, checked in or completed
        # (opened on confirmation, removed on cancellation), under the booking's id, so
        # no query is needed.
        return instance.pk if instance.status in TRIAL_STATUSES else None

    def get_cancellation_reason_code(self, instance) -> str | None:
        return selectors.cancellation_reason_code(instance)

    def get_cancellation_reason(self, instance) -> str | None:
        if instance.status not in ENDED_STATUSES:
            return None
        return selectors.cancellation_reason(instance)

    def to_representation(self, instance):
        """Written out by hand: this is on every booking response, and DRF's per-field
        machinery cost more than the rest of the rendering. The declared fields above
        describe the same keys for the schema (a test keeps the two in step)."""
        tz = ZoneInfo(instance.equipment.hub.timezone)
        lead = instance.trial_lead
        used = usage(instance)

        def stamp(value):
            return value.astimezone(tz).isoformat() if value else None

        return {
            "id": instance.pk,
            "equipment": instance.equipment_id,
            "equipment_name": instance.equipment.name,
            "hub": instance.equipment.hub.slug,
            "organization": instance.organization.slug,
            "start": stamp(instance.start),
            "end": stamp(instance.end),
            "status": instance.status,
            "purpose": instance.purpose,
            "price": f"{instance.price:.2f}",
            "trial_lead": lead.email if lead else None,
            "decision_reason": instance.decision_reason,
            "decided_at": stamp(instance.decided_at),
            "checked_in_at": stamp(instance.checked_in_at),
            "completed_at": stamp(instance.completed_at),
            "created": stamp(instance.created),
            "trial": self.get_trial(instance),
            "cancellation_reason": self.get_cancellation_reason(instance),
            "cancellation_reason_code": self.get_cancellation_reason_code(instance),
            "usage": {
                "booked_hours": f"{used.booked_hours:.2f}",
                "actual_hours": None if used.actual_hours is None else f"{used.actual_hours:.2f}",
                "actual_start": stamp(used.actual_start),
                "actual_end": stamp(used.actual_end),
            },
            "quote": booking_quote_data(instance.quote, tz),
        }


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True,
                                   max_length=services.REASON_MAX_LENGTH)


class BookingFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Booking.Status.choices)
    equipment = IdFilter(field_name="equipment_id")
    hub = django_filters.CharFilter(field_name="equipment__hub__slug")
    after = IsoDateTimeFilter(field_name="end", lookup_expr="gt",
                                             label="Bookings ending after this time")
    before = IsoDateTimeFilter(field_name="start", lookup_expr="lt",
                                              label="Bookings starting before this time")

    class Meta:
        model = Booking
        fields = ["status", "equipment", "hub", "after", "before"]


def _transition_action(name: str, service, summary: str):
    @extend_schema(summary=summary, request=ReasonSerializer, responses=BookingSerializer)
    def handler(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        selectors.booking_for(self.org, pk)  # 404 before anything else
        booking = service(booking_id=int(pk), organization=self.org,
                          reason=body.validated_data.get("reason", ""), by_user=self.actor_user)
        return Response(BookingSerializer(booking).data)

    handler.__name__ = name
    return handler


def in_hub_time(error: Conflict, equipment_id: int) -> Conflict:
    """A slot conflict's ``conflicts`` (start, end, blocked_until) in the offset of the
    equipment's hub, as every other time of a booking is given."""
    conflicts = error.extra.get("conflicts")
    if not conflicts:
        return error
    equipment = Equipment.objects.select_related("hub").filter(pk=equipment_id).first()
    if equipment is None:
        return error
    tz = ZoneInfo(equipment.hub.timezone)
    error.extra["conflicts"] = [
        {key: datetime.fromisoformat(value).astimezone(tz).isoformat()
         if isinstance(value, str) and key in ("start", "end", "blocked_until") else value
         for key, value in conflict.items()}
        for conflict in conflicts]
    return error


class BookingViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = BookingSerializer
    permission_classes = [HasOrganization]
    filterset_class = BookingFilter
    # Unbounded: cursor pages on (start, id), which the (organization, start, id) and
    # (start, id) indexes answer by seeking (core.pagination).
    pagination_class = CursorPage.by("start", "id")
    # Only ids that fit a bigint reach the actions' lookups; anything else is the API's
    # plain 404.
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        lines = QuoteLine.objects.select_related("equipment", "item").order_by("position")
        return (selectors.bookings_visible_to(self.org).select_related("quote")
                .prefetch_related(Prefetch("quote__lines", queryset=lines))
                # The cancellation reason lives in the booking's history.
                .annotate(ended=selectors.ending_reason()).order_by("start", "pk"))

    @extend_schema(request=BookingCreateSerializer, responses={201: BookingSerializer})
    @idempotent
    def create(self, request):
        body = BookingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        try:
            booking = services.create_booking(
                equipment_id=d["equipment"], organization=self.org, start=d["start"],
                end=d["end"], purpose=d["purpose"], by_user=self.actor_user,
                trial_lead_email=d.get("trial_lead") or None,
                grant_id=d.get("voucher_grant"),
                shortfall=d.get("if_voucher_short", Quote.Shortfall.SME_PAYS),
                quote_id=d.get("quote"))
        except Conflict as error:
            raise in_hub_time(error, d["equipment"]) from None
        return Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)

    approve = action(detail=True, methods=["post"])(
        _transition_action("approve", services.approve_booking, "Approve a requested booking"))
    reject = action(detail=True, methods=["post"])(
        _transition_action("reject", services.reject_booking, "Reject a requested booking"))
    cancel = action(detail=True, methods=["post"])(
        _transition_action("cancel", services.cancel_booking, "Cancel a booking"))
    check_in = action(detail=True, methods=["post"], url_path="check-in")(
        _transition_action("check_in", services.check_in_booking, "Record the SME's check-in"))
    complete = action(detail=True, methods=["post"])(
        _transition_action("complete", services.complete_booking, "Complete a checked-in booking"))


class AvailabilityQuerySerializer(serializers.Serializer):
    start = AwareDateTimeField()
    end = AwareDateTimeField()

    def validate(self, attrs):
        validate_period(attrs["start"], attrs["end"], max_range=selectors.MAX_AVAILABILITY_RANGE)
        return attrs


class AvailabilityView(ActorMixin, APIView):
    permission_classes = [HasOrganization]

    @extend_schema(
        summary="Free periods of one equipment",
        parameters=[AvailabilityQuerySerializer],
        responses=inline_serializer("Availability", {
            "equipment": serializers.IntegerField(),
            "timezone": serializers.CharField(),
            "slot_granularity": serializers.IntegerField(),
            "min_duration": serializers.IntegerField(),
            "max_duration": serializers.IntegerField(),
            "free": inline_serializer("FreePeriod", {"start": serializers.DateTimeField(),
                                                     "end": serializers.DateTimeField()},
                                      many=True),
        }))
    def get(self, request, pk: int):
        query = AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        equipment = Equipment.objects.select_related("hub").filter(pk=pk).first()
        if equipment is None:
            raise EQUIPMENT_NOT_FOUND.error()
        tz = ZoneInfo(equipment.hub.timezone)
        free = selectors.free_intervals(equipment=equipment, start=query.validated_data["start"],
                                        end=query.validated_data["end"], organization=self.org)
        return Response({
            "equipment": equipment.pk,
            "timezone": equipment.hub.timezone,
            "slot_granularity": equipment.slot_granularity,
            "min_duration": equipment.min_duration,
            "max_duration": equipment.max_duration,
            "free": [{"start": s.astimezone(tz).isoformat(), "end": e.astimezone(tz).isoformat()}
                     for s, e in free],
        })


