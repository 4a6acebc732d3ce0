"""API v1 routes of pricing (registered by testbed/api.py): quotes and voucher grants.

``/api/v1/quotes/``: GET (SME: its own; operator: those at its hubs; others: none),
POST (SME: an estimate for a period; Idempotency-Key). ``{id}/``: GET.
``/api/v1/vouchers/``, ``{id}/``: GET (SME: its voucher grants; others: none).
Money is a decimal string in CNY ("123.45"); times in the hub's time zone with its offset.
Parse, call the service or selector, render: the rules are the service's.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import django_filters
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from core.idempotency import idempotent
from core.pagination import CursorPage
from core.serializers import AwareDateTimeField
from core.validators import validate_period
from organizations.api import ActorMixin, HasOrganization

from . import selectors, services
from .models import Quote, QuoteLine, VoucherGrant

extra_urlpatterns: list = []


def money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def _money_field(help_text: str = "", **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True,
                                    coerce_to_string=True, help_text=help_text, **kwargs)


def _stamp(value, tz: ZoneInfo):
    return value.astimezone(tz).isoformat() if value else None


# --- quotes ---------------------------------------------------------------------------------


class QuoteLineSerializer(serializers.Serializer):
    """One priced line: `amount` = `quantity` × `unit_price` to the fen (half up);
    `voucher_share` + `sme_share` = `amount`."""

    position = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=QuoteLine.Kind.choices, read_only=True)
    description = serializers.CharField(read_only=True,
                                        help_text="What the line is, in the active language.")
    equipment = serializers.IntegerField(read_only=True, allow_null=True)
    item = serializers.CharField(read_only=True, allow_null=True,
                                 help_text="The priced item's code (consumables, materials).")
    start = serializers.DateTimeField(read_only=True, allow_null=True)
    end = serializers.DateTimeField(read_only=True, allow_null=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4, read_only=True)
    unit = serializers.CharField(read_only=True)
    unit_price = _money_field()
    amount = _money_field()
    voucher_share = _money_field("What the voucher pays of this line.")
    sme_share = _money_field("What the firm pays of this line.")

    def to_representation(self, line):
        tz = self.context.get("tz")
        tz = tz or ZoneInfo(line.quote.hub.timezone)
        return line_data(line, tz)


def line_data(line: QuoteLine, tz: ZoneInfo) -> dict:
    return {
        "position": line.position,
        "kind": line.kind,
        "description": selectors.describe_line(line),
        "equipment": line.equipment_id,
        "item": line.item.code if line.item_id else None,
        "start": _stamp(line.start, tz),
        "end": _stamp(line.end, tz),
        "quantity": f"{line.quantity:.4f}",
        "unit": line.unit,
        "unit_price": money(line.unit_price),
        "amount": money(line.amount),
        "voucher_share": money(line.voucher_share),
        "sme_share": money(line.sme_share),
    }


class BookingQuoteSerializer(serializers.Serializer):
    """The lines a booking was priced with and their voucher split (its quote)."""

    id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(choices=Quote.Status.choices, read_only=True)
    currency = serializers.CharField(read_only=True, default="CNY")
    total = _money_field("The sum of the lines (the booking's price).")
    voucher_total = _money_field("What the voucher pays.")
    sme_total = _money_field("What the firm pays.")
    voucher_grant = serializers.IntegerField(read_only=True, allow_null=True)
    if_voucher_short = serializers.ChoiceField(choices=Quote.Shortfall.choices, read_only=True)
    lines = QuoteLineSerializer(many=True, read_only=True)


def booking_quote_data(quote: Quote | None, tz: ZoneInfo) -> dict | None:
    """A booking's ``quote`` in its responses (None for one priced before quotes)."""
    if quote is None:
        return None
    return {
        "id": quote.pk,
        "status": quote.status,
        "currency": "CNY",
        "total": money(quote.total),
        "voucher_total": money(quote.voucher_total),
        "sme_total": money(quote.sme_total),
        "voucher_grant": quote.grant_id,
        "if_voucher_short": quote.shortfall,
        "lines": [line_data(line, tz) for line in quote.lines.all()],
    }


class QuoteSerializer(serializers.Serializer):
    """A quote: an estimate asked for before booking, an offer answering a service request,
    or the lines a booking keeps. Times in the hub's time zone."""

    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=Quote.Kind.choices, read_only=True)
    status = serializers.ChoiceField(choices=Quote.Status.choices, read_only=True)
    hub = serializers.CharField(read_only=True, help_text="The hub's slug.")
    organization = serializers.CharField(read_only=True, help_text="The SME's slug.")
    equipment = serializers.IntegerField(
        read_only=True, allow_null=True,
        help_text="The equipment priced (the first, for an offer over several pieces).")
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    assisted = serializers.BooleanField(read_only=True)
    currency = serializers.CharField(read_only=True, default="CNY")
    total = _money_field("The sum of the lines.")
    voucher_total = _money_field("What the voucher pays (for an estimate: a preview, nothing "
                                 "is reserved).")
    sme_total = _money_field("What the firm pays.")
    voucher_grant = serializers.IntegerField(read_only=True, allow_null=True)
    if_voucher_short = serializers.ChoiceField(choices=Quote.Shortfall.choices, read_only=True)
    valid_until = serializers.DateTimeField(read_only=True, allow_null=True)
    origin = serializers.IntegerField(read_only=True, allow_null=True,
                                      help_text="The estimate or offer this was made from.")
    booking = serializers.IntegerField(read_only=True, allow_null=True,
                                       help_text="The booking priced with it (kind booking).")
    created = serializers.DateTimeField(read_only=True)
    lines = QuoteLineSerializer(many=True, read_only=True)

    def to_representation(self, quote):
        tz = ZoneInfo(quote.hub.timezone)
        lines = list(quote.lines.all())
        equipment = next((line.equipment_id for line in lines if line.equipment_id), None)
        try:
            booking = quote.booking.pk
        except ObjectDoesNotExist:
            booking = None
        return {
            "id": quote.pk,
            "kind": quote.kind,
            "status": quote.status,
            "hub": quote.hub.slug,
            "organization": quote.organization.slug,
            "equipment": equipment,
            "start": _stamp(quote.start, tz),
            "end": _stamp(quote.end, tz),
            "assisted": quote.assisted,
            "currency": "CNY",
            "total": money(quote.total),
            "voucher_total": money(quote.voucher_total),
            "sme_total": money(quote.sme_total),
            "voucher_grant": quote.grant_id,
            "if_voucher_short": quote.shortfall,
            "valid_until": _stamp(quote.valid_until, tz),
            "origin": quote.origin_id,
            "booking": booking,
            "created": _stamp(quote.created, tz),
            "lines": [line_data(line, tz) for line in lines],
        }


class ItemInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=60, help_text="The priced item's code on the "
                                                          "hub's rate card.")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4,
                                        min_value=Decimal("0.0001"))


class QuoteCreateSerializer(serializers.Serializer):
    equipment = serializers.IntegerField(min_value=1)
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    assisted = serializers.BooleanField(required=False, default=False,
                                        help_text="Run or assisted by the hub's staff.")
    items = ItemInputSerializer(many=True, required=False, max_length=50,
                                help_text="Consumables and materials from the rate card.")
    voucher_grant = serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="One of your voucher grants (GET /api/v1/vouchers/) to preview its split.")
    if_voucher_short = serializers.ChoiceField(
        choices=Quote.Shortfall.choices, required=False, default=Quote.Shortfall.SME_PAYS,
        help_text="When the voucher cannot cover its share: the firm pays the rest "
                  "(sme_pays) or the booking is refused (refuse).")

    def validate(self, attrs):
        validate_period(attrs["start"], attrs["end"])
        return attrs


class QuoteFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Quote.Kind.choices)
    status = django_filters.MultipleChoiceFilter(choices=Quote.Status.choices)

    class Meta:
        model = Quote
        fields = ["kind", "status"]


class QuoteViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    serializer_class = QuoteSerializer
    permission_classes = [HasOrganization]
    filterset_class = QuoteFilter
    pagination_class = CursorPage.by("-created", "-id")  # quotes only grow
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return selectors.quotes_visible_to(self.org).order_by("-created", "-pk")

    def retrieve(self, request, pk=None):
        return Response(QuoteSerializer(selectors.quote_for(self.org, pk)).data)

    @extend_schema(summary="Ask for an estimate (a quote before booking)",
                   request=QuoteCreateSerializer, responses={201: QuoteSerializer})
    @idempotent
    def create(self, request):
        body = QuoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        quote = services.create_estimate(
            organization=self.org, equipment_id=d["equipment"], start=d["start"],
            end=d["end"], assisted=d.get("assisted", False),
            items=[(i["code"], i["quantity"]) for i in d.get("items", [])],
            grant_id=d.get("voucher_grant"), shortfall=d.get("if_voucher_short", "sme_pays"),
            by_user=self.actor_user)
        quote = selectors.quote_for(self.org, quote.pk)
        return Response(QuoteSerializer(quote).data, status=status.HTTP_201_CREATED)


# --- voucher grants -------------------------------------------------------------------------


class ProgrammeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    issuer = serializers.CharField(read_only=True)
    reference = serializers.CharField(read_only=True)
    subsidy_share = serializers.DecimalField(max_digits=5, decimal_places=4, read_only=True,
                                             help_text="The share of each eligible line the "
                                                       "voucher pays, e.g. 0.5000.")
    cap_per_sme_year = _money_field()
    cap_per_use = _money_field(allow_null=True)
    valid_from = serializers.DateField(read_only=True)
    valid_until = serializers.DateField(read_only=True)
    claimant = serializers.CharField(read_only=True)


class VoucherGrantSerializer(serializers.ModelSerializer):
    """One of the SME's innovation-voucher grants: what is granted, used and left."""

    programme = ProgrammeSerializer(read_only=True)
    amount = _money_field()
    used = _money_field("The voucher share of booked quotes applying it.")
    remaining = _money_field("amount − used.")
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = VoucherGrant
        fields = ["id", "programme", "reference_number", "amount", "used", "remaining",
                  "valid_from", "valid_until", "revoked", "revoked_at"]
        read_only_fields = fields

    def get_revoked(self, grant) -> bool:
        return grant.revoked_at is not None


class VoucherGrantViewSet(ActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    serializer_class = VoucherGrantSerializer
    permission_classes = [HasOrganization]
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return selectors.grants_visible_to(self.org).order_by("-valid_from", "pk")

    def retrieve(self, request, pk=None):
        return Response(VoucherGrantSerializer(selectors.grant_for(self.org, pk)).data)


def register(router) -> None:
    """Register pricing's viewsets on the API v1 router."""
    router.register("quotes", QuoteViewSet, basename="quote")
    router.register("vouchers", VoucherGrantViewSet, basename="voucher")
