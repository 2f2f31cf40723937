"""Weekly maintenance windows in the operator's time zone, across daylight saving time changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.fleet import WeeklyWindow
from services.configurator.campaigns.windows import WindowProblem, check_window, slot


def window(day="sunday", start="02:30", minutes=120, timezone="Europe/Amsterdam") -> WeeklyWindow:
    return WeeklyWindow(day=day, start=start, duration_minutes=minutes, timezone=timezone)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_window_opens_at_its_local_time_in_winter_and_in_summer():
    assert slot(window(), utc(2027, 1, 1))[0] == utc(2027, 1, 3, 1, 30)  # CET, UTC+1
    assert slot(window(), utc(2027, 7, 1))[0] == utc(2027, 7, 4, 0, 30)  # CEST, UTC+2


def test_on_the_night_clocks_go_forward_a_missing_start_time_opens_an_hour_later_by_the_clock():
    start, _ = slot(window(), utc(2027, 3, 27))  # 28 March 2027: 02:00 -> 03:00 in Amsterdam
    assert start == utc(2027, 3, 28, 1, 30)
    assert start.astimezone(ZoneInfo("Europe/Amsterdam")).strftime("%H:%M") == "03:30"


def test_on_the_night_clocks_go_back_an_ambiguous_start_opens_at_its_first_occurrence():
    assert slot(window(), utc(2027, 10, 30))[0] == utc(2027, 10, 31, 0, 30)  # 02:30 CEST, before the change


def test_a_window_in_new_york_follows_its_own_daylight_saving_dates():
    evening = window(day="saturday", start="22:00", minutes=180, timezone="America/New_York")
    assert slot(evening, utc(2027, 3, 10))[0] == utc(2027, 3, 14, 3, 0)  # EST (UTC-5), Saturday 13 March
    assert slot(evening, utc(2027, 3, 15))[0] == utc(2027, 3, 21, 2, 0)  # EDT (UTC-4), Saturday 20 March


def test_inside_an_open_window_an_update_may_start_at_once_until_only_a_quarter_is_left():
    opening = utc(2027, 1, 3, 1, 30)
    start, latest = slot(window(), opening + timedelta(minutes=60))
    assert start == opening + timedelta(minutes=60) and latest == opening + timedelta(minutes=90)
    late, _ = slot(window(), opening + timedelta(minutes=100))
    assert late == opening + timedelta(days=7), "too little of this window is left: next week's"


def test_a_window_shorter_than_the_minimum_or_in_an_unknown_zone_is_refused_with_the_reason():
    with pytest.raises(WindowProblem, match="at least 60 minutes"):
        check_window(window(minutes=30), minimum_minutes=60)
    with pytest.raises(WindowProblem, match="not a time zone"):
        check_window(window(timezone="Mars/Olympus_Mons"), minimum_minutes=60)
    check_window(window(minutes=60), minimum_minutes=60)
