"""Property-based tests (hypothesis) for the policy engine's time handling: opening
hours in any time zone, DST included, and the slot grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
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


def _dst_changes(zone: str) -> list[datetime]:
    """The instants (UTC) where ``zone`` changes its offset in 2026-2027, to the minute."""
    tz, changes = ZoneInfo(zone), []
    day = datetime(2026, 1, 1, tzinfo=UTC)
    while day < datetime(2028, 1, 1, tzinfo=UTC):
        lo, hi = day, day + timedelta(days=1)
        if lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset():
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            changes.append(hi.replace(second=0, microsecond=0))
        day += timedelta(days=1)
    return changes


DST_CHANGES = [(zone, change) for zone in ZONES for change in _dst_changes(zone)]
# Uniform moments over two years rarely fall on the few hours around a DST change, which
# is where rounding goes wrong; half the examples are drawn there (in the zone changing).
near_dst_change = st.builds(
    lambda zone_change, seconds: (zone_change[0], zone_change[1] + timedelta(seconds=seconds)),
    st.sampled_from(DST_CHANGES), st.integers(-6 * 3600, 6 * 3600))
zoned_moments = st.one_of(st.tuples(st.sampled_from(ZONES), moments), near_dst_change)


def grid_oracle(moment: datetime, granularity: int, tz: ZoneInfo, up: bool) -> datetime:
    """Independent oracle: walk minute by minute from ``moment`` until the policy's own
    alignment rule says the instant is on the grid."""
    probe = moment.replace(second=0, microsecond=0)
    if up and probe < moment:
        probe += timedelta(minutes=1)
    while not is_aligned(probe, granularity, tz):
        probe += timedelta(minutes=1 if up else -1)
    return probe


BERLIN_SPRING_FORWARD = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


@settings(max_examples=300, deadline=None)
@given(zoned=zoned_moments,
       granularity=st.sampled_from([1, 5, 15, 30, 45, 60, 90, 120, 180, 1440]))
@example(zoned=("Europe/Berlin", BERLIN_SPRING_FORWARD), granularity=120)
@example(zoned=("Europe/Berlin", datetime(2026, 10, 25, 1, 10, tzinfo=UTC)), granularity=45)
@example(zoned=("Australia/Lord_Howe", datetime(2026, 4, 4, 15, 10, tzinfo=UTC)),
         granularity=60)
def test_grid_rounding_lands_on_the_grid(zoned, granularity):
    """Rounding up or down gives the nearest instant on the slot grid on that side, DST
    changes included: floor(x) <= x <= ceil(x), both aligned, nothing on the grid between."""
    zone, moment = zoned
    tz = ZoneInfo(zone)
    up, down = _ceil_to_grid(moment, granularity, tz), _floor_to_grid(moment, granularity, tz)
    assert down <= moment <= up
    assert is_aligned(up, granularity, tz) and is_aligned(down, granularity, tz)
    assert up == grid_oracle(moment, granularity, tz, up=True), (zone, moment, up)
    assert down == grid_oracle(moment, granularity, tz, up=False), (zone, moment, down)


def test_grid_rounding_on_the_berlin_spring_forward():
    """Issue 12: Europe/Berlin, 2026-03-29, 120-minute grid. 02:00 does not exist that
    night (the clocks jump from 02:00 CET to 03:00 CEST), so the grid is 00:00 CET, then
    04:00 CEST. Rounding 03:30 CEST down used to give 03:00 CEST, off the grid. (Compared
    in UTC: aware datetimes of one zone compare by wall clock, ignoring DST folds.)"""
    berlin = ZoneInfo("Europe/Berlin")

    def at(*args, fold=0) -> datetime:
        return datetime(*args, tzinfo=berlin, fold=fold).astimezone(UTC)

    def floor(moment):
        return _floor_to_grid(moment, 120, berlin).astimezone(UTC)

    def ceil(moment):
        return _ceil_to_grid(moment, 120, berlin).astimezone(UTC)

    assert floor(at(2026, 3, 29, 3, 30)) == at(2026, 3, 29, 0, 0)
    assert ceil(at(2026, 3, 29, 3, 30)) == at(2026, 3, 29, 4, 0)
    # From before the gap, up skips the missing 02:00 too.
    assert ceil(at(2026, 3, 29, 1, 30)) == at(2026, 3, 29, 4, 0)
    assert floor(at(2026, 3, 29, 1, 30)) == at(2026, 3, 29, 0, 0)
    # The hour repeated in autumn (02:00-03:00 twice): both 02:00s are on the grid.
    assert floor(at(2026, 10, 25, 2, 10, fold=1)) == at(2026, 10, 25, 2, 0, fold=1)
    assert floor(at(2026, 10, 25, 2, 10, fold=0)) == at(2026, 10, 25, 2, 0, fold=0)
    assert ceil(at(2026, 10, 25, 1, 10)) == at(2026, 10, 25, 2, 0, fold=0)
    assert ceil(at(2026, 10, 25, 2, 10, fold=0)) == at(2026, 10, 25, 2, 0, fold=1)
