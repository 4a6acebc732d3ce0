"""Permission-matrix rows of the floor pages (console/floor_urls.py): today, timeline,
requests, one booking and its moves, no-shows, maintenance windows.

Objects are AutoWorks' (the shared world's ``equipment`` at the Yizhuang hub), made when the
row's URL is built; each seat's request runs in a savepoint that is rolled back, so every
seat meets the object as made. POST bodies are valid for the operator: its member and its
admin are redirected (302), another flagship firm gets 404 for AutoWorks' object."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from bookings.models import Booking
from tests.factories import MaintenanceWindowFactory
from tests.fixtures.world import local, make_booking

from .test_matrix import Row, seats

S = Booking.Status
WORLD = ("equipment", "sme")
POSTED = seats(member=302, admin=302, other_flagship=404)
OBJECT = seats(other_flagship=404)


def _booking(status, start, hours=2):
    def make(world) -> list:
        begin = start()
        return [
            make_booking(
                world["equipment"],
                world["sme"],
                begin,
                begin + timedelta(hours=hours),
                status=status,
            ).pk
        ]

    return make


def _soon():
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=10)


def _an_hour_ago():
    return timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)


def _window(world) -> list:
    return [
        MaintenanceWindowFactory(
            equipment=world["equipment"], start=local(3, 8), end=local(3, 10)
        ).pk
    ]


def _maintenance_data(world) -> dict:
    return {
        "equipment": world["equipment"].pk,
        "start": local(5, 8).strftime("%Y-%m-%dT%H:%M"),
        "end": local(5, 10).strftime("%Y-%m-%dT%H:%M"),
        "reason": "Spindle service",
        "confirm": "1",
    }


ROWS = [
    Row("console:home", "GET", seats()),
    Row("console:timeline", "GET", seats()),
    Row("console:requests", "GET", seats()),
    Row("console:no_shows", "GET", seats()),
    Row("console:maintenance", "GET", seats()),
    Row(
        "console:booking",
        "GET",
        OBJECT,
        uses=WORLD,
        args=_booking(S.CONFIRMED, lambda: local(1, 10)),
    ),
    Row(
        "console:approve",
        "POST",
        POSTED,
        uses=WORLD,
        args=_booking(S.REQUESTED, lambda: local(1, 10)),
        data=lambda world: {"reason": "Bring your own fixtures."},
    ),
    Row(
        "console:reject",
        "POST",
        POSTED,
        uses=WORLD,
        args=_booking(S.REQUESTED, lambda: local(1, 10)),
        data=lambda world: {"reason": "The spindle is reserved for a customer audit."},
    ),
    Row("console:check_in", "POST", POSTED, uses=WORLD, args=_booking(S.CONFIRMED, _soon)),
    Row("console:complete", "POST", POSTED, uses=WORLD, args=_booking(S.CHECKED_IN, _an_hour_ago)),
    Row("console:no_show", "POST", POSTED, uses=WORLD, args=_booking(S.CONFIRMED, _an_hour_ago)),
    # Another operator may not choose AutoWorks' equipment: the form says so (200).
    Row(
        "console:maintenance",
        "POST",
        seats(member=302, admin=302),
        uses=WORLD,
        data=_maintenance_data,
    ),
    Row("console:maintenance_delete", "POST", POSTED, uses=WORLD, args=_window),
]
