from __future__ import annotations

import django_filters
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, parsers, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import csv as core_csv
from core.filters import IsoDateTimeFilter
from core.idempotency import idempotent
from core.parsers import MultiPartParser, read_body
from core.renderers import CSVRenderer
from organizations.api import ActorMixin, HasOrganization

from . import errors, selectors, services
from .models import Measurement, Trial
from .sharing_api import ConsentActions


class TrialSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk", read_only=True)
    booking = serializers.IntegerField(source="booking_id", read_only=True)
    equipment = serializers.IntegerField(source="booking.equipment_id", read_only=True)
    start = serializers.DateTimeField(source="booking.start", read_only=True)
    end = serializers.DateTimeField(source="booking.end", read_only=True)

    class Meta:
        model = Trial
        fields = ["id", "booking", "equipment", "start", "end", "status", "attempts",
                  "last_error", "collected_at", "measurement_count", "summary"]
        read_only_fields = fields


class MeasurementSerializer(serializers.ModelSerializer):
    timestamp = serializers.DateTimeField(source="ts")

    class Meta:
        model = Measurement
        fields = ["timestamp", "metric", "value", "unit"]


class MeasurementFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter()
    after = IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    before = IsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta:
        model = Measurement
        fields = ["metric", "after", "before"]


# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_SLACK = 64 * 1024


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _refuse_oversized(request) -> None:
    """Before anything is read or spooled: a declared length beyond the upload limit."""
    if _declared_length(request) > settings.TRIAL_RESULT_MAX_BYTES + MULTIPART_SLACK:
        raise RequestDataTooBig("The upload is larger than this service accepts.")


@extend_schema(parameters=[OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH,
    description="The trial's id, which is its booking's id.")])
class TrialViewSet(ActorMixin, ConsentActions, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """A trial shares its booking's id. Visible to the booking's SME and the hub's operator."""

    serializer_class = TrialSerializer
    permission_classes = [HasOrganization]
    # A trial's key is its booking (a relation, which Django does not range-check): only
    # ids that fit a bigint reach the database; anything else is the API's plain 404.
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return selectors.trials_visible_to(self.org)

    @extend_schema(
        summary="Measurements of a trial (paginated; ?format=csv for all as CSV)",
        parameters=[
            OpenApiParameter("metric", str), OpenApiParameter("after", OpenApiTypes.DATETIME),
            OpenApiParameter("before", OpenApiTypes.DATETIME),
            OpenApiParameter("format", str, enum=["json", "csv"])],
        responses=MeasurementSerializer(many=True))
    @action(detail=True, methods=["get"],
            renderer_classes=[renderers.JSONRenderer, CSVRenderer])
    def measurements(self, request, pk=None):
        trial = selectors.trial_for(self.org, pk)
        filters = MeasurementFilter(request.query_params,
                                    queryset=selectors.measurements_of(trial))
        if not filters.is_valid():  # a naive or out-of-range time is a 400, not ignored
            raise translate_validation(filters.errors)
        qs = filters.qs
        if request.query_params.get("format") == "csv":
            return self._csv(trial, qs)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MeasurementSerializer(page, many=True).data)

    def _csv(self, trial, qs):
        rows = ((ts.isoformat(), metric, value, unit) for ts, metric, value, unit
                in qs.values_list("ts", "metric", "value", "unit").iterator(chunk_size=5000))
        response = StreamingHttpResponse(
            core_csv.stream(["timestamp", "metric", "value", "unit"], rows),
            content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="trial-{trial.pk}.csv"'
        return response

    @extend_schema(
        summary="Upload results (operator): CSV or JSON body, or a multipart file",
        request={"text/csv": OpenApiTypes.STR, "application/json": OpenApiTypes.OBJECT,
                 "multipart/form-data": inline_serializer(
                     "ResultUpload", {"file": serializers.FileField()})},
        responses=TrialSerializer)
    @idempotent(precheck=lambda request: _refuse_oversized(request),
                raw_limit=lambda: settings.TRIAL_RESULT_MAX_BODY_BYTES)
    @action(detail=True, methods=["post"],
            parser_classes=[MultiPartParser, parsers.FileUploadParser])
    def results(self, request, pk=None):
        trial = selectors.trial_for(self.org, pk)
        services.require_results_uploader(trial=trial, organization=self.org)
        content_type = request.content_type or ""
        # A raw body has a limit of its own (TRIAL_RESULT_MAX_BODY_BYTES, above the small
        # default every other endpoint has); a multipart file is streamed to disk, so refuse
        # an oversized one before it is spooled, and again by its size.
        limit = settings.TRIAL_RESULT_MAX_BYTES
        _refuse_oversized(request)
        if content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                raise errors.FILE_REQUIRED.error()
            if upload.size > limit:
                raise RequestDataTooBig("The upload is larger than this service accepts.")
            data, filename = upload.read(), upload.name
            content_type = upload.content_type or ""
        else:
            data = read_body(request, limit=settings.TRIAL_RESULT_MAX_BODY_BYTES)
            filename = None
        if not data:
            raise errors.RESULTS_EMPTY.error()
        services.upload_results(trial=trial, organization=self.org, data=data,
                                content_type=content_type, filename=filename,
                                by_user=self.actor_user)
        trial.refresh_from_db()
        return Response(TrialSerializer(trial).data)
