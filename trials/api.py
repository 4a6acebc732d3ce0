from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import django_filters
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, parsers, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api import UsageSerializer
from core import csv as core_csv
from core.errors import valid_id
from core.filters import IsoDateTimeFilter
from core.idempotency import idempotent
from core.pagination import CursorPage
from core.parsers import MultiPartParser, read_body
from core.renderers import CSVRenderer
from equipment.errors import EQUIPMENT_NOT_FOUND
from equipment.models import Equipment
from equipment.selectors import equipment_operated_by
from organizations.api import ActorMixin, HasOrganization

from . import errors, selectors, services
from .models import Measurement, SourceGap, Trial
from .sharing_api import ConsentActions


class GapSerializer(serializers.Serializer):
    """A period of the trial without readings from the equipment, and why."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    seconds = serializers.FloatField()
    reason = serializers.ChoiceField(choices=SourceGap.Reason.choices)
    detail = serializers.CharField(help_text="More about it, for the operator (may be empty).")


class TrialSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk", read_only=True)
    booking = serializers.IntegerField(source="booking_id", read_only=True)
    equipment = serializers.IntegerField(source="booking.equipment_id", read_only=True)
    start = serializers.DateTimeField(source="booking.start", read_only=True)
    end = serializers.DateTimeField(source="booking.end", read_only=True)
    gaps = GapSerializer(many=True, read_only=True, help_text=Trial.gaps.field.help_text)
    usage = UsageSerializer(source="booking", read_only=True)

    class Meta:
        model = Trial
        fields = ["id", "booking", "equipment", "start", "end", "status", "attempts",
                  "last_error", "collected_at", "measurement_count", "summary", "gaps", "usage"]
        read_only_fields = fields

    def to_representation(self, instance):
        """Every time in the hub's offset (the summary's first and last readings are
        stored in UTC)."""
        data = super().to_representation(instance)
        tz = ZoneInfo(instance.booking.equipment.hub.timezone)

        def stamp(value):
            return datetime.fromisoformat(value).astimezone(tz).isoformat() if value else value

        for key in ("start", "end", "collected_at"):
            data[key] = stamp(data.get(key))
        for gap in data.get("gaps") or []:
            gap["start"], gap["end"] = stamp(gap.get("start")), stamp(gap.get("end"))
        summary = data.get("summary")
        if isinstance(summary, dict):
            data["summary"] = {
                metric: {**figures, **{key: stamp(figures[key]) for key in ("first", "last")
                                       if isinstance(figures.get(key), str)}}
                if isinstance(figures, dict) else figures
                for metric, figures in summary.items()}
        return data


class LiveQuerySerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        required=False, default=selectors.LIVE_MINUTES, min_value=1,
        max_value=selectors.LIVE_MAX_MINUTES, help_text="How many minutes the series cover.")


class LatestSerializer(serializers.Serializer):
    metric = serializers.CharField()
    unit = serializers.CharField()
    value = serializers.FloatField()
    ts = serializers.DateTimeField(help_text="The source's timestamp of this value.")


class LiveSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The booking's status (as the booking shows "
                                             "it: confirmed, checked_in, completed …).")
    live = serializers.BooleanField(
        help_text="True while the booking is checked in (readings are arriving); the last "
                  "values stay shown afterwards.")
    since = serializers.DateTimeField(help_text="Where the series start.")
    until = serializers.DateTimeField(help_text="Where the series end: now, or the booking's "
                                                "end.")
    metrics = LatestSerializer(many=True, help_text="The latest value of each metric.")
    series = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(
            child=serializers.JSONField(), min_length=2, max_length=2)),
        help_text=f"Per metric, [timestamp, value] pairs over the last minutes, at most "
                  f"{selectors.LIVE_POINTS} (every n-th reading where there are more).")
    gaps = GapSerializer(many=True)

    def to_representation(self, view: selectors.LiveView):
        tz = ZoneInfo(view.trial.booking.equipment.hub.timezone)

        def stamp(moment):
            return moment.astimezone(tz).isoformat()

        # Written out: a poll every few seconds, with hundreds of points per metric.
        return {
            "status": view.trial.booking.status, "live": view.live,
            "since": stamp(view.since), "until": stamp(view.until),
            "metrics": [{"metric": v.metric, "unit": v.unit, "value": v.value,
                         "ts": stamp(v.ts)} for v in view.latest],
            "series": {metric: [[stamp(ts), value] for ts, value in points]
                       for metric, points in view.series.items()},
            "gaps": [{**gap, "start": stamp(gap["start"]), "end": stamp(gap["end"])}
                     for gap in view.gaps],
        }


class MeasurementSerializer(serializers.ModelSerializer):
    """One reading; its metric and unit come from the trial's dictionary of metrics."""

    timestamp = serializers.DateTimeField(source="ts")
    metric = serializers.CharField(source="metric.name")
    unit = serializers.CharField(source="metric.unit")

    class Meta:
        model = Measurement
        fields = ["timestamp", "metric", "value", "unit"]


class MeasurementFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter(field_name="metric__name")
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
        summary="Measurements of a trial (cursor pages in time order; ?format=csv for all "
                "as CSV)",
        parameters=[
            OpenApiParameter("metric", str), OpenApiParameter("after", OpenApiTypes.DATETIME),
            OpenApiParameter("before", OpenApiTypes.DATETIME),
            OpenApiParameter("format", str, enum=["json", "csv"])],
        responses=MeasurementSerializer(many=True))
    @action(detail=True, methods=["get"],
            renderer_classes=[renderers.JSONRenderer, CSVRenderer],
            pagination_class=CursorPage.by("ts", "id"))
    def measurements(self, request, pk=None):
        trial = selectors.trial_for(self.org, pk)
        filters = MeasurementFilter(request.query_params,
                                    queryset=selectors.measurements_of(trial))
        if not filters.is_valid():  # a naive or out-of-range time is a 400, not ignored
            raise translate_validation(filters.errors)
        qs = filters.qs
        if request.query_params.get("format") == "csv":
            return self._csv(trial, qs)
        page = self.paginate_queryset(qs.select_related("metric"))
        return self.get_paginated_response(MeasurementSerializer(page, many=True).data)

    @extend_schema(
        summary="Live readings of a trial: latest values, the last minutes, gaps",
        parameters=[LiveQuerySerializer], responses=LiveSerializer)
    @action(detail=True, methods=["get"])
    def live(self, request, pk=None):
        """While the booking is checked in, what the collector has stored so far (the
        portal's live panel polls it); afterwards, the last values of the slot."""
        query = LiveQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        view = selectors.live_view(self.org, pk, minutes=query.validated_data["minutes"])
        return Response(LiveSerializer(view).data)

    def _csv(self, trial, qs):
        # Times in the hub's offset, as the JSON gives them.
        return core_csv.response(["timestamp", "metric", "value", "unit"],
                                 selectors.download_rows(trial, qs), f"trial-{trial.pk}.csv")

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


class FoundSerializer(serializers.Serializer):
    metric = serializers.CharField()
    unit = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="A sample value.")


class SourceCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Connected and read a sample.")
    kind = serializers.ChoiceField(choices=Equipment.ResultSourceKind.choices)
    metrics = FoundSerializer(many=True, required=False,
                              help_text="With ok: the metrics found, each with a sample.")
    error = serializers.CharField(required=False,
                                  help_text="Without ok: what went wrong, in Testbed's words.")
    server_certificate = serializers.CharField(
        required=False, help_text="With ok, on a secured OPC UA connection: the SHA-256 "
        "fingerprint of the certificate the server presented (AB:CD:…), to pin as the "
        "source's security.server_certificate once checked against the machine's own.")

    def to_representation(self, check: selectors.SourceCheck):
        if check.ok:
            answer = {"ok": True, "kind": check.kind, "metrics": [
                {"metric": f.metric, "unit": f.unit, "value": f.value} for f in check.metrics]}
            if check.server_certificate:
                answer["server_certificate"] = check.server_certificate
            return answer
        return {"ok": False, "kind": check.kind, "error": check.error}


class ResultSourceTestView(ActorMixin, APIView):
    """"Test connection" for the hub's operator: connect to the equipment's result source as
    saved, read a sample, and answer which metrics it gives or what went wrong. Changes
    nothing. Equipment without a source to connect to (kind none) is a 409."""

    permission_classes = [HasOrganization]

    @extend_schema(summary="Test the equipment's result source (its operator)", request=None,
                   responses=SourceCheckSerializer)
    def post(self, request, pk: int):
        # The operator's scope, as for every change to the equipment: anyone else's is 404.
        key = valid_id(pk)
        equipment = equipment_operated_by(self.org).filter(pk=key).first() if key else None
        if equipment is None:
            raise EQUIPMENT_NOT_FOUND.error()
        return Response(SourceCheckSerializer(selectors.check_result_source(equipment)).data)
