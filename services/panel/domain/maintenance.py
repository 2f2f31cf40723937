"""An operator's maintenance choices, checked before they are sent: a weekly window in their own time
zone, or a deferral no later than the update's limit. Problems are keyed by form field. No I/O."""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from contracts.fleet import Weekday, WeeklyWindow

from .form import FieldProblems, problems_by_field

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})$")


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


class _WindowForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    day: Weekday
    start: str
    duration_minutes: int = Field(le=24 * 60)
    timezone: str

    @field_validator("start")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        found = TIME_OF_DAY.match(value)
        if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
            raise ValueError("must be a time of day such as 02:00 (24-hour clock)")
        return f"{int(found.group(1)):02d}:{found.group(2)}"

    @field_validator("duration_minutes")
    @classmethod
    def _long_enough(cls, value: int, info: ValidationInfo) -> int:
        minimum = (info.context or {}).get("minimum", 1)
        if value < minimum:
            raise ValueError(f"must be at least {minimum} minutes")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in time_zones():
            raise ValueError("must be a time zone such as Europe/Amsterdam")
        return value


def checked_window(values: Mapping[str, Any], minimum_minutes: int) -> WeeklyWindow:
    """The window the operator typed (day, start, duration_minutes, timezone), or FieldProblems."""
    typed = {key: value for key, value in values.items() if value not in ("", None)}
    try:
        form = _WindowForm.model_validate(typed, context={"minimum": minimum_minutes})
    except ValidationError as exc:
        raise FieldProblems(problems_by_field(exc)) from None
    return WeeklyWindow(**form.model_dump())


def last_deferral_day(limit: datetime, timezone: str) -> date:
    """The last date whose start, in the operator's time zone, is not after the limit."""
    return limit.astimezone(ZoneInfo(timezone)).date()


def checked_deferral(typed: str, limit: datetime, timezone: str, now: datetime) -> datetime:
    """The moment a deferral to the typed date (YYYY-MM-DD) means: the start of that day in the
    operator's time zone, after today and no later than the limit."""
    try:
        day = date.fromisoformat(typed.strip())
    except ValueError:
        raise FieldProblems({"defer_until": "must be a date such as 2030-06-30"}) from None
    until = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    if until <= now:
        raise FieldProblems({"defer_until": "must be a day after today"})
    if until > limit:
        last = last_deferral_day(limit, timezone)
        raise FieldProblems({"defer_until": f"must be no later than {last:%Y-%m-%d}, the last day this update may wait for"})
    return until
