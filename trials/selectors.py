"""Reads of trials, scoped to the acting organisation."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from bookings.models import Booking
from core.errors import valid_id
from organizations.models import Organization

from .errors import TRIAL_NOT_FOUND
from .models import Measurement, Trial

# A trial 'collecting' for longer than this lost its worker; the sweep picks it up again.
STALE_COLLECTING = timedelta(minutes=15)


def trials_visible_to(organization: Organization | None) -> QuerySet[Trial]:
    """The booking's SME and the hub's operator see a trial; nobody else."""
    qs = Trial.objects.select_related("booking", "booking__equipment",
                                      "booking__equipment__hub", "booking__organization")
    if organization is None:
        return qs.none()
    if organization.kind == Organization.Kind.SME:
        return qs.filter(booking__organization=organization)
    if organization.kind == Organization.Kind.FLAGSHIP:
        return qs.filter(booking__equipment__hub__operator=organization)
    return qs.none()


def trial_for(organization: Organization | None, trial_id) -> Trial:
    pk = valid_id(trial_id)
    trial = trials_visible_to(organization).filter(pk=pk).first() if pk else None
    if trial is None:
        raise TRIAL_NOT_FOUND.error()
    return trial


def measurements_of(trial: Trial) -> QuerySet[Measurement]:
    return Measurement.objects.filter(trial=trial).order_by("ts", "metric", "pk")


def trials_due_for_collection(*, now=None) -> QuerySet[Trial]:
    now = now or timezone.now()
    return Trial.objects.filter(
        Q(status=Trial.Status.PENDING)
        | Q(status=Trial.Status.COLLECTING, updated__lt=now - STALE_COLLECTING),
        booking__status=Booking.Status.COMPLETED,
    ).order_by("booking__completed_at")
