"""Permission-matrix rows of a booking's trial in the console (console/trials.py): the
page, its live panel and its readings as CSV.

The trial is AutoWorks' (a completed booking of the shared world's ``equipment`` at the
Yizhuang hub, collected), made when the row's URL is built: the operator's member and admin
read it, another flagship firm gets 404, SMEs and universities 403, anonymous visitors the
login page."""

from __future__ import annotations

from bookings.models import Booking
from tests.fixtures.world import collected_trial, local, make_booking

from .test_matrix import Row, seats

WORLD = ("equipment", "sme")
OBJECT = seats(other_flagship=404)


def _trial(world) -> list:
    booking = make_booking(
        world["equipment"],
        world["sme"],
        local(-1, 9),
        local(-1, 11),
        status=Booking.Status.COMPLETED,
    )
    return [collected_trial(booking, readings=5).pk]


ROWS = [
    Row("console:trial", "GET", OBJECT, uses=WORLD, args=_trial),
    Row("console:trial_live", "GET", OBJECT, uses=WORLD, args=_trial),
    Row("console:trial_csv", "GET", OBJECT, uses=WORLD, args=_trial),
]
