"""API v1: monthly statements (``/api/v1/statements/``) and the billing report
(``/api/v1/reports/billing/``), registered by testbed/api.py.

An SME sees its own statements, an operator those it issued, a university none; another
organisation's statement is a 404. Operators issue a month's statements with
``POST /api/v1/statements/issue/ {"month": "2026-11"}`` (repeat-safe with
``Idempotency-Key``; a second run issues nothing new)."""

from __future__ import annotations

import django_filters
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Statement, StatementLine
from core.forms import MONTH_PATTERN, parse_month
from core.idempotency import idempotent
from core.renderers import CSVRenderer
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization

from . import documents, report, selectors, services
from .errors import MONTH_INVALID

# What the month is on the wire: a YYYY-MM string (not an OpenAPI ``date``).
MONTH_SCHEMA = {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-11"}


@extend_schema_field(MONTH_SCHEMA)
class MonthField(serializers.CharField):
    """A calendar month as ``YYYY-MM``; its value is the month's first day."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Calendar month, YYYY-MM (in each hub's time zone).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        month = parse_month(str(data))
        if month is None:
            raise serializers.ValidationError(MONTH_INVALID.text())
        return month

    def to_representation(self, value):
        return f"{value:%Y-%m}"


def _money(**kwargs):
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


class StatementLineSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField(
        help_text="What the line is for, in the language of the request.")
    grant = serializers.CharField(source="grant.reference_number", read_only=True,
                                  allow_null=True, default=None,
                                  help_text="The voucher grant's reference number, if any.")

    class Meta:
        model = StatementLine
        fields = ["position", "kind", "line_kind", "booking", "service_date", "description",
                  "quantity", "unit", "unit_price", "amount", "voucher_share", "sme_share",
                  "grant"]
        read_only_fields = fields

    def get_description(self, line) -> str:
        return documents.describe(line)


class StatementSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text="e.g. ST-AUTOWORKS-2026-00042")
    operator = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    month = MonthField(read_only=True)
    currency = serializers.SerializerMethodField()

    class Meta:
        model = Statement
        fields = ["id", "code", "operator", "organization", "month", "year", "number",
                  "total", "voucher_total", "sme_total", "currency", "issued_at"]
        read_only_fields = fields

    def get_currency(self, statement) -> str:
        return documents.CURRENCY


class StatementDetailSerializer(StatementSerializer):
    lines = StatementLineSerializer(many=True, read_only=True)

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class IssueSerializer(serializers.Serializer):
    month = MonthField()


class StatementFilter(django_filters.FilterSet):
    month = django_filters.CharFilter(method="filter_month", label="Month stated (YYYY-MM)")
    organization = django_filters.CharFilter(field_name="organization__slug",
                                             label="The SME's slug")

    class Meta:
        model = Statement
        fields = ["month", "organization"]

    @extend_schema_field({**MONTH_SCHEMA, "description": "The month stated, YYYY-MM."})
    def filter_month(self, queryset, name, value):
        month = parse_month(value)
        if month is None:
            raise MONTH_INVALID.error()
        return queryset.filter(month=month)


class BinaryRenderer(renderers.BaseRenderer):
    """Lets ``Accept: application/pdf`` through content negotiation (the view returns the
    bytes itself); an error reaching it is written as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        import json

        return json.dumps(data).encode() if data is not None else b""


def _download(body: bytes | str, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


LANG_PARAMETER = OpenApiParameter(
    "lang", str, enum=list(documents.LANGUAGES),
    description="The document's language; default: the request's (Accept-Language).")


class StatementViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """Monthly statements: an SME's own, or those an operator issued. Not tax invoices."""

    permission_classes = [HasOrganization]
    filterset_class = StatementFilter
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return selectors.statements_visible_to(self.org).order_by("-month", "number", "pk")

    def get_serializer_class(self):
        return StatementDetailSerializer if self.action == "retrieve" else StatementSerializer

    def retrieve(self, request, pk=None):
        return Response(StatementDetailSerializer(selectors.statement_for(self.org, pk)).data)

    @extend_schema(summary="The statement as a PDF", parameters=[LANG_PARAMETER],
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], renderer_classes=[BinaryRenderer,
                                                            renderers.JSONRenderer])
    def pdf(self, request, pk=None):
        statement = selectors.statement_for(self.org, pk)
        language = documents.language_or_default(request.query_params.get("lang"),
                                                  get_language())
        return _download(documents.statement_pdf(statement, language), "application/pdf",
                         documents.filename(statement, "pdf", language))

    @extend_schema(summary="The statement's lines as CSV",
                   responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], renderer_classes=[CSVRenderer,
                                                            renderers.JSONRenderer])
    def csv(self, request, pk=None):
        statement = selectors.statement_for(self.org, pk)
        return _download(documents.statement_csv(statement), "text/csv; charset=utf-8",
                         documents.filename(statement, "csv"))

    @extend_schema(summary="Issue a month's statements (operators)", request=IssueSerializer,
                   responses={201: StatementSerializer(many=True)})
    @idempotent
    @action(detail=False, methods=["post"])
    def issue(self, request):
        operator = self.require_kind(Organization.Kind.FLAGSHIP)
        body = IssueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issued = services.issue_statements(operator=operator,
                                           month=body.validated_data["month"],
                                           by_user=self.actor_user, now=timezone.now())
        return Response(StatementSerializer(issued, many=True).data,
                        status=status.HTTP_201_CREATED)


# --- the billing report ---------------------------------------------------------------

FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["json", "csv"],
    description="`csv` for a CSV download (one row per SME, hub, equipment and state).")


class BillingQuerySerializer(serializers.Serializer):
    month = MonthField()


class BillingRowSerializer(serializers.Serializer):
    stated = serializers.BooleanField(
        read_only=True, help_text="true: on issued statements; false: not yet stated (what "
                                  "the next statement would carry).")
    equipment = serializers.IntegerField(source="equipment_id", read_only=True, allow_null=True)
    equipment_name = serializers.CharField(source="equipment", read_only=True)
    hub = serializers.CharField(read_only=True)
    completed = serializers.IntegerField(read_only=True)
    no_shows = serializers.IntegerField(read_only=True)
    hours = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    usage_amount = _money(help_text="Equipment time, surcharges, set-up fees and items, net "
                                    "of credits.")
    late_cancellations = serializers.IntegerField(read_only=True)
    cancellation_fees = _money()
    amount = _money()
    voucher_share = _money()
    sme_share = _money()


class BillingSmeSerializer(serializers.Serializer):
    organization = serializers.CharField(read_only=True, help_text="The SME's slug.")
    organization_name = serializers.CharField(read_only=True)
    amount = _money()
    voucher_share = _money()
    sme_share = _money()
    pending_amount = _money(help_text="Of the amount, what is not yet stated.")
    lines = BillingRowSerializer(many=True, read_only=True)


class BillingReportSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    currency = serializers.CharField()
    total = _money()
    voucher_total = _money()
    sme_total = _money()
    pending_total = _money(help_text="Of the total, what is not yet stated.")
    smes = BillingSmeSerializer(many=True)


class BillingReportView(ActorMixin, APIView):
    """Per SME, hub and equipment of your hubs for a month, from statement lines: those of
    the month's issued statements and, marked ``stated: false``, what the next statement
    would carry (the same rules). For flagship organisations only."""

    permission_classes = [HasOrganization]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Billing per SME for a month (operators)",
        parameters=[BillingQuerySerializer, FORMAT_PARAMETER],
        responses={200: BillingReportSerializer, (200, "text/csv"): OpenApiTypes.STR,
                   403: OpenApiResponse(description="Not a hub operator.")})
    def get(self, request):
        operator = self.require_kind(Organization.Kind.FLAGSHIP)
        query = BillingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month = query.validated_data["month"]
        result = report.billing(operator=operator, month=month)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return _download(report.billing_csv(result), "text/csv; charset=utf-8",
                             f"billing-{month:%Y-%m}.csv")
        return Response(BillingReportSerializer(result.as_dict()).data)


# Paths beside the router's.
extra_urlpatterns: list = []


def register(router) -> None:
    router.register("statements", StatementViewSet, basename="statement")
