"""API for sharing: agreements (operators, universities; SMEs read the terms), consents
(under a trial), datasets (universities)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.files import file_response
from core.idempotency import idempotent
from core.pagination import CursorPage
from core.serializers import AwareDateTimeField, ModelSerializer
from organizations.api import ActorMixin, HasOrganization
from organizations.models import Organization

from . import packages, sharing, terms
from .errors import CONSENT_NOT_FOUND
from .models import Consent, DatasetRelease, SharingAgreement
from .selectors import trial_for
from .sharing.services import require_agreement_operator

OPERATOR = Organization.Kind.FLAGSHIP


class TermsSerializer(serializers.Serializer):
    """The terms a consent binds (one version of an agreement's terms)."""

    anonymize = serializers.BooleanField()
    shift_timestamps = serializers.BooleanField()
    embargo_days = serializers.IntegerField()
    license = serializers.CharField()
    hub = serializers.CharField(allow_null=True, help_text="The hub's slug.")
    university = serializers.CharField(allow_null=True, help_text="The university's slug.")
    categories = serializers.ListField(child=serializers.CharField(),
                                       help_text="Slugs of the equipment categories in scope.")


class AgreementVersionSerializer(serializers.Serializer):
    """One version of an agreement's terms, as consents given under it bind them."""

    version = serializers.IntegerField(source="number")
    terms = serializers.SerializerMethodField()
    created = serializers.DateTimeField(help_text="When these terms took effect.")

    @extend_schema_field(TermsSerializer)
    def get_terms(self, obj) -> dict:
        return terms.describe(obj.terms)


class AgreementSerializer(ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    university = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    hub = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    active = serializers.SerializerMethodField()
    version = serializers.IntegerField(
        read_only=True, help_text="The version of the terms; a new one each time a term "
                                  "changes (consents stay bound to theirs).")
    terms = serializers.SerializerMethodField(help_text="The current version's terms.")
    # Shown only to the agreement's operator (see to_representation). Not read-only only
    # so that the schema marks it optional: this serializer never reads input.
    endpoint_url = serializers.URLField(
        required=False, help_text="Where releases are delivered; only the agreement's "
                                  "operator sees it.")

    class Meta:
        model = SharingAgreement
        fields = ["id", "title", "operator", "university", "hub", "categories", "anonymize",
                  "shift_timestamps", "embargo_days", "license", "endpoint_url", "valid_from",
                  "valid_until", "revoked_at", "active", "version", "terms", "created"]
        read_only_fields = fields

    def get_active(self, obj) -> bool:
        return sharing.is_active(obj, timezone.now())

    @extend_schema_field(TermsSerializer)
    def get_terms(self, obj) -> dict:
        return {"anonymize": obj.anonymize, "shift_timestamps": obj.shift_timestamps,
                "embargo_days": obj.embargo_days, "license": obj.license,
                "hub": obj.hub.slug, "university": obj.university.slug,
                "categories": sorted(c.slug for c in obj.categories.all())}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        org = self.context.get("org")
        if org is None or org.pk != instance.operator_id:
            data.pop("endpoint_url")  # the delivery address is the operator's business
        return data


class AgreementCreateSerializer(serializers.Serializer):
    university = serializers.SlugField()
    hub = serializers.SlugField()
    categories = serializers.ListField(child=serializers.SlugField(), allow_empty=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    anonymize = serializers.BooleanField(default=True)
    shift_timestamps = serializers.BooleanField(default=False)
    embargo_days = serializers.IntegerField(min_value=0, max_value=3650, default=30)
    license = serializers.ChoiceField(choices=sorted(packages.LICENSES), default="CC-BY-4.0")
    endpoint_url = serializers.URLField()
    valid_from = AwareDateTimeField()
    valid_until = AwareDateTimeField(required=False, allow_null=True)


class AgreementUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    categories = serializers.ListField(child=serializers.SlugField(), allow_empty=False,
                                       required=False)
    anonymize = serializers.BooleanField(required=False)
    shift_timestamps = serializers.BooleanField(required=False)
    embargo_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    license = serializers.ChoiceField(choices=sorted(packages.LICENSES), required=False)
    university = serializers.SlugField(required=False)
    hub = serializers.SlugField(required=False)
    endpoint_url = serializers.URLField(required=False)
    valid_until = AwareDateTimeField(required=False, allow_null=True)


class AgreementViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    serializer_class = AgreementSerializer
    permission_classes = [HasOrganization]

    def get_queryset(self):
        return sharing.agreements_visible_to(self.org)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "org": self.org}

    @extend_schema(request=AgreementCreateSerializer,
                   responses={201: AgreementSerializer},
                   description="The response carries the signing secret (whsec_…) once.")
    @idempotent
    def create(self, request):
        self.require_kind(OPERATOR)
        body = AgreementCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agreement = sharing.create_agreement(operator=self.org, **body.validated_data)
        data = AgreementSerializer(agreement, context={"org": self.org}).data
        data["signing_secret"] = agreement.signing_secret
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AgreementUpdateSerializer, responses=AgreementSerializer,
                   description="Changing a term (anonymize, shift_timestamps, embargo_days, "
                               "license, university, hub, categories) makes a new version; "
                               "consents stay bound to the version they were given under.")
    def partial_update(self, request, pk=None):
        agreement = self.get_object()
        require_agreement_operator(agreement=agreement, by=self.org)
        body = AgreementUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        categories = data.pop("categories", None)
        university, hub = data.pop("university", None), data.pop("hub", None)
        agreement = sharing.update_agreement(agreement=agreement, by=self.org, data=data,
                                             categories=categories, university=university,
                                             hub=hub)
        return Response(AgreementSerializer(agreement, context={"org": self.org}).data)

    @extend_schema(request=None, responses=AgreementVersionSerializer(many=True),
                   summary="Every version of the agreement's terms, newest first")
    @action(detail=True, methods=["get"], pagination_class=None)
    def versions(self, request, pk=None):
        agreement = self.get_object()
        return Response(AgreementVersionSerializer(agreement.versions.order_by("-number"),
                                                   many=True).data)

    @extend_schema(request=None, responses=AgreementSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        agreement = sharing.revoke_agreement(agreement=self.get_object(), by=self.org)
        return Response(AgreementSerializer(agreement, context={"org": self.org}).data)

    @extend_schema(request=None, responses={204: None},
                   summary="SME: consent to every covered trial (POST) or stop (DELETE)")
    @action(detail=True, methods=["post", "delete"], url_path="standing-consent")
    def standing_consent(self, request, pk=None):
        agreement = self.get_object()
        if request.method == "DELETE":
            sharing.revoke_standing_consent(organization=self.org, agreement_id=agreement.pk,
                                            by_user=self.actor_user)
        else:
            sharing.set_standing_consent(organization=self.org, agreement_id=agreement.pk,
                                         by_user=self.actor_user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConsentSerializer(ModelSerializer):
    agreement = serializers.PrimaryKeyRelatedField(read_only=True)
    university = serializers.SerializerMethodField(
        help_text="The university consented to (by name): the one in the consented terms.")
    active = serializers.SerializerMethodField()
    agreement_version = serializers.IntegerField(
        source="version.number", read_only=True,
        help_text="The version of the agreement's terms this consent was given under.")
    terms = serializers.SerializerMethodField(help_text="The terms consented to.")
    current = serializers.SerializerMethodField(
        help_text="Whether it was given under the agreement's current terms (if not, nothing "
                  "is released under terms that differ until the SME consents again).")

    class Meta:
        model = Consent
        fields = ["id", "trial", "agreement", "university", "granted_at", "revoked_at",
                  "standing", "active", "agreement_version", "terms", "current"]
        read_only_fields = fields

    def get_university(self, obj) -> str:
        return (Organization.objects.filter(pk=obj.version.terms["university"])
                .values_list("name", flat=True).first() or "")

    def get_active(self, obj) -> bool:
        return obj.revoked_at is None

    @extend_schema_field(TermsSerializer)
    def get_terms(self, obj) -> dict:
        return terms.describe(obj.version.terms)

    def get_current(self, obj) -> bool:
        return obj.version.number == obj.agreement.version


class ConsentCreateSerializer(serializers.Serializer):
    agreement = serializers.IntegerField(min_value=1)


class ConsentActions:
    """Mixed into the trial viewset: ``/trials/{id}/consents/`` and ``…/consents/{cid}/``."""

    @extend_schema(methods=["GET"], responses=ConsentSerializer(many=True),
                   summary="Consents given for a trial (all of them, newest first)")
    @extend_schema(methods=["POST"], request=ConsentCreateSerializer,
                   responses={201: ConsentSerializer}, summary="SME: consent to a release")
    @idempotent
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def consents(self, request, pk=None):
        trial = trial_for(self.org, pk)
        if request.method == "POST":
            body = ConsentCreateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            consent = sharing.grant_consent(trial=trial, organization=self.org,
                                            agreement_id=body.validated_data["agreement"],
                                            by_user=self.actor_user)
            return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
        rows = (trial.consents.select_related("agreement__university", "version")
                .order_by("-granted_at"))
        return Response(ConsentSerializer(rows, many=True).data)

    @extend_schema(request=None, responses={200: ConsentSerializer},
                   summary="SME: revoke a consent (answers with the revoked consent)")
    @action(detail=True, methods=["delete"], url_path=r"consents/(?P<consent_id>\d+)")
    def revoke_consent(self, request, pk=None, consent_id=None):
        trial = trial_for(self.org, pk)
        consent = trial.consents.filter(pk=consent_id).first()
        if consent is None:
            raise CONSENT_NOT_FOUND.error()
        consent = sharing.revoke_consent(consent=consent, organization=self.org,
                                         by_user=self.actor_user)
        return Response(ConsentSerializer(consent).data)


class DatasetSerializer(serializers.ModelSerializer):
    agreement = serializers.PrimaryKeyRelatedField(read_only=True)
    package_url = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()

    class Meta:
        model = DatasetRelease
        fields = ["id", "agreement", "status", "sha256", "size", "row_count", "delivered_at",
                  "created", "package_url", "metadata"]
        read_only_fields = fields

    def get_package_url(self, obj) -> str:
        return f"/api/v1/datasets/{obj.pk}/package/"

    def get_metadata(self, obj) -> dict:
        return packages.metadata(obj)


class DatasetViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    """Releases to the calling university (none for anyone else)."""

    serializer_class = DatasetSerializer
    permission_classes = [HasOrganization]
    pagination_class = CursorPage.by("-created", "-id")  # releases only grow

    def get_queryset(self):
        return sharing.releases_for_university(self.org).order_by("-created")

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def package(self, request, pk=None):
        release = self.get_object()
        response = file_response(release.package, filename=f"testbed-release-{release.pk}.zip",
                                 content_type="application/zip", missing="No such dataset.")
        response["Digest"] = f"sha-256={release.sha256}"
        return response
