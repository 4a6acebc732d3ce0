"""API v1 routes of billing.claims (registered by testbed/api.py): settlement claims for
hub operators (draft, submit, reopen, the evidence ZIP) and the voucher-use report.

Platform staff record the programme office's decisions in the admin console; the API
has no route for them."""

from __future__ import annotations

from datetime import UTC, date

import django_filters
from django.db.models import Count
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.forms import MONTH_PATTERN, parse_month
from core.idempotency import idempotent
from core.renderers import CSVRenderer
from core.serializers import AwareDateTimeField
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization

from ..models import SettlementClaim
from ..statements.api import MONTH_SCHEMA, MonthField
from . import errors, evidence, reports, selectors, services


def _money(**kwargs):
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True,
                                    coerce_to_string=True, **kwargs)


def _utc(**kwargs):
    return serializers.DateTimeField(read_only=True, default_timezone=UTC, **kwargs)


class ClaimLineSerializer(serializers.Serializer):
    """One completed booking claimed; its times in its hub's offset."""

    booking = serializers.IntegerField(read_only=True)
    organization = serializers.CharField(read_only=True, help_text="The SME's slug.")
    organization_name = serializers.CharField(read_only=True)
    hub = serializers.CharField(read_only=True, help_text="The hub's slug.")
    equipment = serializers.CharField(read_only=True, help_text="The equipment's name.")
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    voucher_grant = serializers.CharField(read_only=True,
                                          help_text="The grant's reference number.")
    total = _money(help_text="The booking's fee (its quote's total).")
    sme_share = _money(allow_null=True, help_text="What the firm pays of it.")
    amount = _money(help_text="The voucher share claimed.")

    def to_representation(self, instance):
        return evidence.line_record(instance)


class ClaimSerializer(serializers.ModelSerializer):
    """A settlement claim; its own times in UTC (a claim belongs to no one hub)."""

    programme_reference = serializers.CharField(source="programme.reference", read_only=True)
    programme_name = serializers.CharField(source="programme.name", read_only=True)
    provider = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    month = MonthField(read_only=True, help_text="The month claimed, YYYY-MM.")
    number = serializers.IntegerField(
        read_only=True, help_text="The claim's number in its programme and month: 1 for the "
                                  "first, 2 and on for supplementary claims.")
    supplementary = serializers.BooleanField(source="is_supplementary", read_only=True)
    amount = _money(help_text="The voucher share claimed, the sum of the lines.")
    reason = serializers.CharField(read_only=True, help_text="Why the claim was rejected.")
    line_count = serializers.IntegerField(read_only=True)
    created = _utc()
    submitted_at = _utc(allow_null=True)
    decided_at = _utc(allow_null=True)
    paid_at = _utc(allow_null=True)

    class Meta:
        model = SettlementClaim
        fields = ["id", "programme", "programme_reference", "programme_name", "provider",
                  "month", "number", "supplementary", "status", "amount", "line_count",
                  "reason", "payment_reference", "created", "submitted_at", "decided_at",
                  "paid_at"]
        read_only_fields = fields


class ClaimDetailSerializer(ClaimSerializer):
    lines = ClaimLineSerializer(many=True, read_only=True)
    evidence_url = serializers.SerializerMethodField()

    class Meta(ClaimSerializer.Meta):
        fields = [*ClaimSerializer.Meta.fields, "lines", "evidence_url"]
        read_only_fields = fields

    def get_evidence_url(self, obj) -> str:
        return f"/api/v1/claims/{obj.pk}/evidence/"


class ClaimCreateSerializer(serializers.Serializer):
    programme = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                         help_text="The voucher programme's id.")
    month = serializers.RegexField(
        MONTH_PATTERN, help_text="The month claimed, YYYY-MM (bookings starting in it, in "
                                 "each hub's time zone).",
        error_messages={"invalid": errors.CLAIM_MONTH_INVALID.message})

    def validate_month(self, value: str) -> date:
        month = parse_month(value)
        if month is None:
            raise serializers.ValidationError(str(errors.CLAIM_MONTH_INVALID.message))
        return month


class ClaimFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=SettlementClaim.Status.choices)
    programme = django_filters.NumberFilter(field_name="programme_id", min_value=1,
                                            max_value=2**63 - 1)
    month = django_filters.CharFilter(method="filter_month",
                                      label="The month claimed, YYYY-MM")

    class Meta:
        model = SettlementClaim
        fields = ["status", "programme", "month"]

    @extend_schema_field({**MONTH_SCHEMA, "description": "The month claimed, YYYY-MM."})
    def filter_month(self, queryset, name, value):
        month = parse_month(value)
        if month is None:
            raise errors.CLAIM_MONTH_INVALID.error()
        return queryset.filter(month=month)


def _transition(name: str, service, summary: str):
    @extend_schema(summary=summary, request=None, responses=ClaimDetailSerializer)
    def handler(self, request, pk=None):
        selectors.claim_for(self.org, pk)  # another provider's claim: 404 before anything
        service(claim_id=int(pk), provider=self.require_kind(Organization.Kind.FLAGSHIP),
                by_user=self.actor_user)
        return Response(ClaimDetailSerializer(selectors.claim_for(self.org, pk)).data)

    handler.__name__ = name
    return handler


class ClaimViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """Settlement claims: the voucher share a hub operator claims from a programme for a
    month, one line per completed booking that used a grant of it at the operator's hubs.
    Operators see their own claims; SMEs and universities none."""

    permission_classes = [HasOrganization]
    filterset_class = ClaimFilter
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return (selectors.claims_visible_to(self.org).annotate(line_count=Count("lines"))
                .order_by("-month", "programme_id", "number", "pk"))

    def get_serializer_class(self):
        return ClaimSerializer if self.action == "list" else ClaimDetailSerializer

    def retrieve(self, request, pk=None):
        claim = selectors.claim_for(self.org, pk)
        return Response(ClaimDetailSerializer(claim).data)

    @extend_schema(summary="Draft (or refresh) the claim for a programme and month",
                   request=ClaimCreateSerializer,
                   responses={201: ClaimDetailSerializer, 200: ClaimDetailSerializer})
    @idempotent
    def create(self, request):
        provider = self.require_kind(Organization.Kind.FLAGSHIP)
        body = ClaimCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        claim, created = services.draft_claim(
            provider=provider, programme_id=body.validated_data["programme"],
            month=body.validated_data["month"], by_user=self.actor_user)
        return Response(ClaimDetailSerializer(selectors.claim_for(provider, claim.pk)).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    submit = action(detail=True, methods=["post"])(
        _transition("submit", services.submit_claim, "Submit a draft claim"))
    reopen = action(detail=True, methods=["post"])(
        _transition("reopen", services.reopen_claim, "Reopen a rejected claim as a draft"))

    @extend_schema(summary="The claim's evidence bundle (ZIP)",
                   responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def evidence(self, request, pk=None):
        claim = selectors.claim_for(self.org, pk)
        return evidence.bundle_response(claim)


# --- the voucher-use report -----------------------------------------------------------

class VoucherReportQuerySerializer(serializers.Serializer):
    start = AwareDateTimeField(help_text="Period start, ISO 8601 with offset (bookings "
                                         "starting from then).")
    end = AwareDateTimeField(help_text="Period end (exclusive), ISO 8601 with offset.")


class VoucherUseSerializer(serializers.Serializer):
    programme = serializers.CharField(read_only=True, help_text="The programme's reference.")
    programme_name = serializers.CharField(read_only=True)
    key = serializers.CharField(read_only=True, help_text="The SME's or hub's slug (empty on "
                                                          "programme rows).")
    name = serializers.CharField(read_only=True)
    granted = _money(allow_null=True, help_text="Grants valid in the period (not revoked); "
                                                "null on hub rows.")
    used = _money(help_text="Voucher shares of booked bookings starting in the period.")
    reserved = _money(help_text="Voucher shares of booked bookings starting after the period "
                                "and not yet carried out (held on the grants).")
    remaining = _money(allow_null=True, help_text="What those grants have left now; null on "
                                                  "hub rows. Granted = used + reserved + "
                                                  "remaining when the period covers every "
                                                  "use of the grants.")
    bookings = serializers.IntegerField(read_only=True)
    claimed = _money(help_text="Claimed from the programme (submitted, approved or paid).")
    paid = _money(help_text="Paid by the programme.")


class VoucherReportSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    currency = serializers.CharField()
    programmes = VoucherUseSerializer(many=True)
    smes = VoucherUseSerializer(many=True)
    hubs = VoucherUseSerializer(many=True)


class VoucherReportView(ActorMixin, APIView):
    """Voucher use per programme, SME and hub in [start, end): an operator's at its hubs,
    an SME's of its own grants. Not for universities."""

    permission_classes = [HasOrganization]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Voucher use per programme, SME and hub",
        parameters=[VoucherReportQuerySerializer, OpenApiParameter(
            "format", str, enum=["json", "csv"], description="`csv` for a CSV download.")],
        responses={200: VoucherReportSerializer, (200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        actor = self.org
        if actor is None or actor.kind not in (Organization.Kind.FLAGSHIP,
                                               Organization.Kind.SME):
            raise errors.REPORT_NOT_FOR_UNIVERSITIES.error()
        query = VoucherReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        report = reports.voucher_use(actor=actor, start=start, end=end)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            response = HttpResponse(reports.voucher_use_csv(report),
                                    content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="voucher-use-{start:%Y%m%d}-{end:%Y%m%d}.csv"')
            return response
        return Response(VoucherReportSerializer({
            "start": start, "end": end, "currency": "CNY", "programmes": report.programmes,
            "smes": report.smes, "hubs": report.hubs}).data)


# Paths beside the router's, e.g. actions that are not viewset routes.
extra_urlpatterns: list = [
    path("reports/vouchers/", VoucherReportView.as_view(), name="report-vouchers"),
]


def register(router) -> None:
    """Register this area's viewsets on the API v1 router."""
    router.register("claims", ClaimViewSet, basename="claim")
