"""Weekly maintenance windows in an operator's own time zone, daylight saving time included.

A window opens on its weekday at its local start time. On the night clocks go forward a start time
that does not exist (02:30 in Europe/Amsterdam on the last Sunday of March) opens at the same
offset from midnight in the new time (03:30); on the night they go back, an ambiguous start opens
at its first occurrence. Durations are real elapsed minutes.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.fleet import WeeklyWindow

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class WindowProblem(ValueError):
    """A window an operator cannot have, in words they can act on."""


def check_window(window: WeeklyWindow, minimum_minutes: int) -> None:
    zone(window.timezone)
    if window.duration_minutes < minimum_minutes:
        raise WindowProblem(f"a maintenance window must be at least {minimum_minutes} minutes long")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowProblem(f"{name!r} is not a time zone such as Europe/Amsterdam") from None


def _opening_on(day: datetime, window: WeeklyWindow, tz: ZoneInfo) -> datetime:
    """The UTC moment the window opens on that local calendar day. A wall time in a spring-forward
    gap is read with the offset before the change (02:30 becomes 03:30); fold=0 picks the first of
    two on a fall-back night."""
    hours, minutes = map(int, window.start.split(":"))
    return datetime.combine(day.date(), time(hours, minutes), tzinfo=tz).astimezone(UTC)


def openings(window: WeeklyWindow, after: datetime):
    """Every (opening, closing) in UTC whose closing is after `after`, in order, for ever."""
    tz = zone(window.timezone)
    local = after.astimezone(tz) - timedelta(days=7)
    day = local.replace(hour=12, minute=0, second=0, microsecond=0)
    while True:
        if DAYS[day.weekday()] == window.day:
            opening = _opening_on(day, window, tz)
            closing = opening + timedelta(minutes=window.duration_minutes)
            if closing > after:
                yield opening, closing
        day = (day + timedelta(days=1)).replace(hour=12)


def slot(window: WeeklyWindow, not_before: datetime) -> tuple[datetime, datetime]:
    """(start, latest start) of the first chance to update at or after `not_before`: an update may
    start while at least a quarter of a window is left, so that it can finish inside it."""
    for opening, closing in openings(window, not_before):
        latest = closing - (closing - opening) / 4
        if latest > not_before:
            return max(opening, not_before), latest
    raise AssertionError("unreachable: windows recur every week")
