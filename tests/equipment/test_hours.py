from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from equipment.hours import (
    ALWAYS_OPEN,
    OFFICE_HOURS,
    merge,
    open_intervals,
    subtract,
    validate_opening_hours,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- validate_opening_hours -------------------------------------------------------------

@pytest.mark.parametrize("hours", [
    OFFICE_HOURS,
    ALWAYS_OPEN,
    {},  # closed all week
    {"mon": []},
    {"fri": [["22:00", "06:00"]]},  # night shift past midnight
    {"sat": [["20:00", "00:00"]]},  # until midnight
    {"mon": [["08:00", "12:00"], ["12:00", "16:00"]]},  # touching periods do not overlap
    {"tue": [["13:00", "17:00"], ["08:00", "12:00"]]},  # any order
    {"wed": [("08:00", "12:00")]},
])
def test_validate_opening_hours_accepts(hours):
    validate_opening_hours(hours)


@pytest.mark.parametrize(("hours", "code"), [
    ([["08:00", "18:00"]], "hours_shape"),
    ("mon 08-18", "hours_shape"),
    ({"mon": "08:00-18:00"}, "hours_shape"),
    ({"mon": [["08:00", "12:00", "18:00"]]}, "hours_shape"),
    ({"mon": ["08:00"]}, "hours_shape"),
    ({"monday": [["08:00", "18:00"]]}, "hours_weekday"),
    ({"mon": [["8:00", "18:00"]]}, "hours_clock"),
    ({"mon": [["08:00", "25:00"]]}, "hours_clock"),
    ({"mon": [["08:00", "24:30"]]}, "hours_clock"),
    ({"mon": [["08:60", "18:00"]]}, "hours_clock"),
    ({"mon": [["08.00", "18:00"]]}, "hours_clock"),
    ({"mon": [["ab:cd", "18:00"]]}, "hours_clock"),
    ({"mon": [[800, 1800]]}, "hours_clock"),
    ({"mon": [["24:00", "06:00"]]}, "hours_clock"),
    ({"mon": [["08:00", "08:00"]]}, "hours_empty"),
    ({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}, "hours_overlap"),
    ({"mon": [["08:00", "18:00"], ["10:00", "11:00"]]}, "hours_overlap"),
    ({"mon": [["22:00", "06:00"], ["23:00", "23:30"]]}, "hours_overlap"),
])
def test_validate_opening_hours_rejects(hours, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_opening_hours(hours)
    assert excinfo.value.code == code


# --- open_intervals ---------------------------------------------------------------------

def test_office_hours_in_shanghai_are_converted_to_utc():
    # Monday 2 March 2026 to the following Monday, Beijing time (UTC+8, no DST).
    start = local(SHANGHAI, 2026, 3, 2)
    got = open_intervals(OFFICE_HOURS, "Asia/Shanghai", start, start + timedelta(days=7))
    assert got == [(utc(2026, 3, d, 0), utc(2026, 3, d, 12)) for d in range(2, 7)]
    assert all(s.tzinfo == UTC for pair in got for s in pair)


def test_result_is_clipped_to_the_query():
    start, end = local(SHANGHAI, 2026, 3, 2, 10), local(SHANGHAI, 2026, 3, 2, 15, 30)
    assert open_intervals(OFFICE_HOURS, "Asia/Shanghai", start, end) == [
        (utc(2026, 3, 2, 2), utc(2026, 3, 2, 7, 30))]
    closed_day = local(SHANGHAI, 2026, 3, 7)  # Saturday
    assert open_intervals(OFFICE_HOURS, "Asia/Shanghai", closed_day,
                          closed_day + timedelta(days=1)) == []


def test_period_crossing_midnight():
    hours = {"fri": [["22:00", "06:00"]]}
    friday = local(SHANGHAI, 2026, 3, 6)
    assert open_intervals(hours, "Asia/Shanghai", friday, friday + timedelta(days=3)) == [
        (utc(2026, 3, 6, 14), utc(2026, 3, 6, 22))]
    # Asked from Saturday midnight on: the tail of Friday's night shift is still open.
    saturday = local(SHANGHAI, 2026, 3, 7)
    assert open_intervals(hours, "Asia/Shanghai", saturday, saturday + timedelta(days=1)) == [
        (utc(2026, 3, 6, 16), utc(2026, 3, 6, 22))]


def test_night_shifts_on_consecutive_days_merge_with_day_shifts():
    hours = {"mon": [["06:00", "22:00"], ["22:00", "06:00"]], "tue": [["06:00", "14:00"]]}
    monday = local(SHANGHAI, 2026, 3, 2)
    assert open_intervals(hours, "Asia/Shanghai", monday, monday + timedelta(days=2)) == [
        (utc(2026, 3, 1, 22), utc(2026, 3, 3, 6))]


def test_always_open_is_one_interval():
    start, end = utc(2026, 3, 2, 3, 15), utc(2026, 3, 9, 17, 45)
    assert open_intervals(ALWAYS_OPEN, "Asia/Shanghai", start, end) == [(start, end)]


def test_dst_spring_forward_in_berlin():
    # Last Sunday of March 2026 is the 29th: clocks go from 02:00 CET to 03:00 CEST.
    hours = {day: [["08:00", "20:00"]] for day in ("sat", "sun", "mon")}
    saturday = local(BERLIN, 2026, 3, 28)
    got = open_intervals(hours, "Europe/Berlin", saturday, saturday + timedelta(days=3))
    assert got == [
        (utc(2026, 3, 28, 7), utc(2026, 3, 28, 19)),  # CET, UTC+1
        (utc(2026, 3, 29, 6), utc(2026, 3, 29, 18)),  # CEST, UTC+2
        (utc(2026, 3, 30, 6), utc(2026, 3, 30, 18)),
    ]


def test_dst_days_are_23_and_25_hours_long():
    hours = {"sun": [["00:00", "24:00"]]}
    spring = local(BERLIN, 2026, 3, 29)
    [(s, e)] = open_intervals(hours, "Europe/Berlin", spring - timedelta(days=1),
                              spring + timedelta(days=2))
    assert (s, e) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert e - s == timedelta(hours=23)
    autumn = local(BERLIN, 2026, 10, 25)  # last Sunday of October: back to CET
    [(s, e)] = open_intervals(hours, "Europe/Berlin", autumn - timedelta(days=1),
                              autumn + timedelta(days=2))
    assert (s, e) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert e - s == timedelta(hours=25)


# --- merge and subtract -----------------------------------------------------------------

def h(hour: int) -> datetime:
    return utc(2026, 1, 1) + timedelta(hours=hour)


def span(*pairs) -> list[tuple[datetime, datetime]]:
    return [(h(a), h(b)) for a, b in pairs]


@pytest.mark.parametrize(("given", "expected"), [
    ([], []),
    ([(1, 2)], [(1, 2)]),
    ([(3, 5), (1, 2)], [(1, 2), (3, 5)]),  # sorted
    ([(1, 3), (2, 5)], [(1, 5)]),  # overlapping
    ([(1, 3), (3, 5)], [(1, 5)]),  # touching
    ([(1, 10), (2, 3), (4, 5)], [(1, 10)]),  # contained
    ([(6, 8), (1, 2), (2, 4), (7, 9)], [(1, 4), (6, 9)]),
])
def test_merge(given, expected):
    assert merge(span(*given)) == span(*expected)


@pytest.mark.parametrize(("free", "taken", "expected"), [
    ([(0, 10)], [], [(0, 10)]),
    ([(0, 10)], [(2, 3), (5, 7)], [(0, 2), (3, 5), (7, 10)]),
    ([(0, 10)], [(5, 7), (2, 3)], [(0, 2), (3, 5), (7, 10)]),  # unsorted
    ([(0, 10)], [(2, 5), (4, 6)], [(0, 2), (6, 10)]),  # overlapping blocks
    ([(0, 10)], [(0, 10)], []),
    ([(0, 10)], [(-5, 2), (8, 15)], [(2, 8)]),  # blocks reaching outside
    ([(0, 5), (6, 10)], [(4, 7)], [(0, 4), (7, 10)]),  # one block across two free spans
    ([(0, 2), (4, 6), (8, 10)], [(1, 9)], [(0, 1), (9, 10)]),
    ([(0, 2), (4, 6)], [(2, 4)], [(0, 2), (4, 6)]),  # block in a gap removes nothing
])
def test_subtract(free, taken, expected):
    assert subtract(span(*free), span(*taken)) == span(*expected)


def test_subtract_takes_an_iterator():
    assert subtract(span((0, 10)), iter(span((2, 3)))) == span((0, 2), (3, 10))
