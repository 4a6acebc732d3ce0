"""Property-based tests (hypothesis) for the policy engine's time handling: opening
hours in any time zone, DST included, and the slot grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bookings.policy import is_aligned
from bookings.selectors import _ceil_to_grid, _floor_to_grid
from equipment.hours import WEEKDAYS, open_intervals, parse_clock

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kathmandu",
         "Australia/Lord_Howe", "UTC"]
clock = st.integers(0, 47).map(lambda h: f"{h // 2:02d}:{(h % 2) * 30:02d}")
period = st.tuples(clock, clock).filter(lambda p: p[0] != p[1]).map(list)
hours = st.dictionaries(st.sampled_from(WEEKDAYS), st.lists(period, max_size=1), max_size=7)
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC))


def open_at(hours_: dict, tz: ZoneInfo, moment: datetime) -> bool:
    """Independent oracle: is the hub open at ``moment`` (by its local wall clock)?"""
    local = moment.astimezone(tz)
    for day_offset in (0, 1):  # a period may have started the day before
        day = (local - timedelta(days=day_offset)).date()
        for start, end in hours_.get(WEEKDAYS[day.weekday()], []):
            (sh, sm), (eh, em) = parse_clock(start), parse_clock(end)
            s_min, e_min = sh * 60 + sm, eh * 60 + em
            if e_min <= s_min:
                e_min += 24 * 60
            minute = (local.hour * 60 + local.minute + day_offset * 24 * 60
                      + local.second / 60)
            if s_min <= minute < e_min:
                return True
    return False


@settings(max_examples=150, deadline=None)
@given(hours=hours, zone=st.sampled_from(ZONES), start=moments,
       span=st.integers(60, 9 * 24 * 60))
def test_open_intervals_are_exactly_the_open_time(hours, zone, start, span):
    end = start + timedelta(minutes=span)
    tz = ZoneInfo(zone)
    spans = open_intervals(hours, zone, start, end)
    for i, (s, e) in enumerate(spans):
        assert start <= s < e <= end
        if i + 1 < len(spans):
            assert e < spans[i + 1][0]  # sorted, disjoint, merged
        # The last probe is just inside the end (spans can be shorter than a second when
        # the range itself starts or ends off the minute).
        for probe in (s, s + (e - s) / 2, e - min(timedelta(seconds=1), (e - s) / 2)):
            assert open_at(hours, tz, probe), (probe, zone)
    # And the gaps between them are closed (sampled).
    edges = [start] + [x for s in spans for x in s] + [end]
    for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
        if gap_end - gap_start > timedelta(minutes=2):
            probe = gap_start + (gap_end - gap_start) / 2
            # Wall-clock time that does not exist (DST gap) may read either way.
            if probe.astimezone(tz).utcoffset() == (probe + timedelta(hours=2)).astimezone(
                    tz).utcoffset():
                assert not open_at(hours, tz, probe), (probe, zone)


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), moment=moments,
       granularity=st.sampled_from([1, 5, 15, 30, 45, 60, 90, 120]))
def test_grid_rounding_lands_on_the_grid(zone, moment, granularity):
    tz = ZoneInfo(zone)
    up, down = _ceil_to_grid(moment, granularity, tz), _floor_to_grid(moment, granularity, tz)
    offset = moment.astimezone(tz).utcoffset()
    # Away from a DST change (same offset on both sides) the grid is plain arithmetic.
    if up.astimezone(tz).utcoffset() == offset:
        assert is_aligned(up, granularity, tz)
        assert timedelta(0) <= up - moment < timedelta(minutes=granularity)
    if down.astimezone(tz).utcoffset() == offset:
        assert is_aligned(down, granularity, tz)
        assert timedelta(0) <= moment - down < timedelta(minutes=granularity)
