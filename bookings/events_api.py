"""``/api/v1/events/`` and ``/api/v1/bookings/{id}/events/``: the booking history as a
changes feed for integrators (as Stripe's ``/v1/events``).

Every ``BookingEvent`` (a status change: who, when, why) of the bookings the caller may
see — an SME its own, an operator those at its hubs (``selectors.events_visible_to``) —
oldest first, in cursor pages on (at, id). A client keeps the last page's ``next`` link
and polls it: events recorded since then appear there, none twice, none skipped. Each
item is the event's own record (as the webhook ``data`` of ``bookings.notifications``
gives it), never the booking's state now.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, mixins, serializers, viewsets

from core.filters import IdFilter, IsoDateTimeFilter
from core.pagination import CursorPage
from organizations.api import ActorMixin, HasOrganization

from . import selectors
from .models import Booking, BookingEvent


class BookingEventSerializer(serializers.Serializer):
    """A status change of a booking, as recorded when it happened; times in the hub's
    offset, as every time of a booking."""

    id = serializers.IntegerField(read_only=True, help_text=(
        "The event's id: the webhook's data.event_id for the same change."))
    event = serializers.CharField(read_only=True, help_text=(
        "The event type, e.g. booking.approved (the webhook's event type)."))
    booking = serializers.IntegerField(read_only=True)
    equipment = serializers.IntegerField(read_only=True)
    from_status = serializers.CharField(read_only=True, help_text=(
        "The status before the change; empty for the event that created the booking."))
    to_status = serializers.ChoiceField(choices=Booking.Status.choices, read_only=True)
    at = serializers.DateTimeField(read_only=True, help_text=(
        "When it happened, in the hub's time zone offset."))
    reason = serializers.CharField(read_only=True, help_text=(
        "Why: as the person who made the change typed it, or, written by the platform, in "
        "the language of the request (Accept-Language; English by default)."))
    reason_code = serializers.CharField(read_only=True, allow_null=True, help_text=(
        "For a reason the platform wrote, its stable code (e.g. no_check_in, maintenance, "
        "equipment_down); null for one a person typed."))
    by = inline_serializer("EventActor", {
        "user": serializers.EmailField(allow_null=True, help_text=(
            "The person who made the change; null for an API key or the platform.")),
        "organization": serializers.CharField(allow_null=True, help_text=(
            "The acting organisation's slug; null for the platform's own sweeps.")),
    }, read_only=True)

    def to_representation(self, instance: BookingEvent) -> dict:
        booking = instance.booking
        user, org = instance.actor_user, instance.actor_organization
        return {
            "id": instance.pk,
            "event": instance.code,
            "booking": booking.pk,
            "equipment": booking.equipment_id,
            "from_status": instance.from_status,
            "to_status": instance.to_status,
            "at": instance.at.astimezone(ZoneInfo(booking.equipment.hub.timezone)).isoformat(),
            "reason": instance.reason_shown,
            "reason_code": instance.reason_code or None,
            # As the webhook's ``actor``: the e-mail and the slug, or null.
            "by": {"user": (user.email or None) if user is not None else None,
                   "organization": org.slug if org is not None else None},
        }


class BookingHistoryFilter(django_filters.FilterSet):
    to_status = django_filters.MultipleChoiceFilter(
        choices=Booking.Status.choices, label="Events that moved the booking to this status")
    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte",
                              label="Events at or after this time (ISO 8601 with offset)")

    class Meta:
        model = BookingEvent
        fields = ["to_status", "since"]


class BookingEventFilter(BookingHistoryFilter):
    booking = IdFilter(field_name="booking_id", label="Events of this booking only")

    class Meta:
        model = BookingEvent
        fields = ["booking", "to_status", "since"]


# Oldest first, so that a feed's last ``next`` link is where new events appear. An index
# on (organization | operator, at, id) answers it by seeking (core.pagination).
EventPage = CursorPage.by("at", "id")

FEED_DESCRIPTION = (
    "Every status change of the bookings you see (an SME: its own; an operator: those at "
    "its hubs), oldest first, in cursor pages: keep the last page's `next` link and poll "
    "it to receive new events, none twice and none skipped. Each item is the event as "
    "recorded (the webhook's data for the same change), not the booking's state now.")


@extend_schema_view(list=extend_schema(summary=("Booking events (changes feed)"),
                                       description=FEED_DESCRIPTION))
class BookingEventViewSet(ActorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = BookingEventSerializer
    permission_classes = [HasOrganization]
    filterset_class = BookingEventFilter
    pagination_class = EventPage

    def get_queryset(self):
        return selectors.events_visible_to(self.org)


class BookingHistoryView(ActorMixin, generics.ListAPIView):
    serializer_class = BookingEventSerializer
    permission_classes = [HasOrganization]
    filterset_class = BookingHistoryFilter
    pagination_class = EventPage

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator asking
            return BookingEvent.objects.none()
        return selectors.events_of_booking(self.org, self.kwargs["pk"])

    @extend_schema(summary=("A booking's events (its history)"), description=(
        "The booking's status changes, oldest first, in cursor pages: who, when and why. "
        "Another organisation's booking is not found."))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
