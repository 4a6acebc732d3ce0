"""Operations reports for hub operators (flagship organisations): utilization, as JSON
or, with ``?format=csv``, as CSV. Figures and rules live in ``bookings.reports.selectors``;
this module parses, calls it and renders. The billing report reads statement lines and is
served by ``billing.statements.api``."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.renderers import CSVRenderer
from core.serializers import AwareDateTimeField
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization

from . import selectors as reports

FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["json", "csv"],
    description="`csv` for a CSV download (one row per equipment line).")


def _hours(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, **kwargs)


def _ratio(**kwargs):
    return serializers.DecimalField(max_digits=8, decimal_places=4, read_only=True,
                                    allow_null=True, **kwargs)


class UtilizationQuerySerializer(serializers.Serializer):
    start = AwareDateTimeField(help_text="Period start, ISO 8601 with offset.")
    end = AwareDateTimeField(help_text="Period end (exclusive), ISO 8601 with offset; at "
                                       f"most {reports.MAX_REPORT_RANGE.days} days after "
                                       "the start.")
    hub = serializers.SlugField(required=False, help_text="Only this hub (its slug).")


class _FiguresSerializer(serializers.Serializer):
    open_hours = _hours(help_text="Opening hours in the period, minus maintenance windows.")
    booked_hours = _hours(help_text="Confirmed, checked-in, completed and no-show bookings, "
                                    "clipped to the period.")
    actual_hours = _hours(allow_null=True,
                          help_text="How long the machine was active in those bookings (its "
                                    "state signal), for bookings starting in the period; null "
                                    "when none has usage evidence.")
    utilization = _ratio(help_text="booked / open (0–1); null without open hours.")
    completed = serializers.IntegerField(read_only=True,
                                         help_text="Completed bookings starting in the period.")
    no_shows = serializers.IntegerField(read_only=True,
                                        help_text="No-show bookings starting in the period.")
    no_show_rate = _ratio(help_text="no_shows / (completed + no_shows); null when both are 0.")


class _PerEquipment(serializers.Serializer):
    """The columns that name a row's equipment (after the figures)."""

    equipment = serializers.IntegerField(source="equipment_id", read_only=True)
    equipment_name = serializers.CharField(source="equipment", read_only=True)
    hub = serializers.CharField(read_only=True)


class EquipmentUtilizationSerializer(_FiguresSerializer, _PerEquipment):
    pass


class HubUtilizationSerializer(_FiguresSerializer):
    hub = serializers.CharField(read_only=True)
    hub_name = serializers.CharField(read_only=True)
    equipment_count = serializers.IntegerField(read_only=True)


class UtilizationReportSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    hubs = HubUtilizationSerializer(many=True)
    equipment = EquipmentUtilizationSerializer(many=True)


def _csv_response(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class _ReportView(ActorMixin, APIView):
    permission_classes = [HasOrganization]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    def parse(self, query_class) -> tuple[Organization, dict]:
        """The acting operator (flagship organisations only) and the valid query."""
        operator = self.require_kind(Organization.Kind.FLAGSHIP)
        query = query_class(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return operator, query.validated_data

    def wants_csv(self) -> bool:
        return getattr(self.request.accepted_renderer, "format", None) == "csv"


class UtilizationReportView(_ReportView):
    """Per equipment of your hubs (and rolled up per hub) over [start, end): open hours
    (opening hours minus maintenance), booked hours (confirmed, checked-in, completed and
    no-show bookings clipped to the period), utilization = booked / open, and the no-show
    rate among bookings starting in the period. For flagship organisations only."""

    @extend_schema(
        summary="Utilization per equipment and hub (operators)",
        parameters=[UtilizationQuerySerializer, FORMAT_PARAMETER],
        responses={200: UtilizationReportSerializer, (200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        operator, query = self.parse(UtilizationQuerySerializer)
        start, end, slug = query["start"], query["end"], query.get("hub")
        hub = reports.operated_hub(operator, slug) if slug else None
        rows = reports.utilization(operator=operator, start=start, end=end, hub=hub)
        if self.wants_csv():
            return _csv_response(reports.utilization_csv(rows),
                                 f"utilization-{start:%Y%m%d}-{end:%Y%m%d}.csv")
        return Response(UtilizationReportSerializer({
            "start": start, "end": end, "hubs": reports.by_hub(rows), "equipment": rows,
        }).data)
