"""Issue 12: the slot grid across a DST change, through the API a booking client uses.

Europe/Berlin, 2026-03-29: the clocks jump from 02:00 CET to 03:00 CEST, so on a
120-minute grid the slots of that night are 00:00 CET and then 04:00 CEST. The
availability used to round a free period's end down to 03:00 CEST (off the grid), and
booking the free period it announced was then refused as misaligned."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.factories import HubFactory, MaintenanceWindowFactory
from tests.fixtures.world import booking_body, make_equipment

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
URL = "/api/v1/equipment/{}/availability/"


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def q(moment: datetime) -> str:
    return moment.isoformat().replace("+", "%2B")


@pytest.fixture
def berlin_press(operator, category):
    hub = HubFactory(operator=operator, name="Berlin", slug="berlin", timezone="Europe/Berlin")
    return make_equipment(hub, category, "press-2h", slot_granularity=120, min_duration=120,
                          max_duration=480)


def test_free_periods_on_the_spring_forward_night_are_on_the_grid_and_bookable(
        berlin_press, sme_client):
    MaintenanceWindowFactory(equipment=berlin_press, start=berlin(2026, 3, 29, 3, 30),
                             end=berlin(2026, 3, 29, 6, 0), reason="calibration")
    with time_machine.travel(berlin(2026, 3, 20, 12, 0), tick=False):
        r = sme_client.get(URL.format(berlin_press.pk)
                           + f"?start={q(berlin(2026, 3, 28, 22, 0))}"
                           f"&end={q(berlin(2026, 3, 29, 10, 0))}")
        assert r.status_code == 200
        free = r.json()["free"]
        # 22:00 CET up to the last grid time before the maintenance: 00:00 CET (02:00
        # does not exist that night); after it, 06:00 to 10:00 CEST.
        assert free == [
            {"start": "2026-03-28T22:00:00+01:00", "end": "2026-03-29T00:00:00+01:00"},
            {"start": "2026-03-29T06:00:00+02:00", "end": "2026-03-29T10:00:00+02:00"},
        ]
        # Every announced free period can be booked as announced.
        for period in free:
            start = datetime.fromisoformat(period["start"])
            end = datetime.fromisoformat(period["end"])
            created = sme_client.post("/api/v1/bookings/",
                                      booking_body(berlin_press, start, end), format="json")
            assert created.status_code == 201, created.json()
