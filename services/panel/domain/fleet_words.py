"""Fleet-wide updates in words: windows, planned starts in the operator's own time, downtime, and
the states of a campaign and of an operator's part in it. No I/O."""

from datetime import datetime
from zoneinfo import ZoneInfo

from contracts.fleet import WeeklyWindow

FIRST_WAVE = "after the first wave"
"""An update whose wave has not opened has no planned start yet."""

NOTICE_KINDS = {"notice": "New update", "reminder": "Reminder", "rescheduled": "New time"}

PART_STATES = {
    "waiting": "waiting for its time",
    "started": "being updated",
    "completed": "updated",
    "failed": "failed",
    "rolling_back": "failed; going back to the last good configuration",
    "rolled_back": "failed; back on the last good configuration",
    "rollback_failed": "failed; going back failed too",
    "unfit": "the configuration does not fit the new policy",
    "cancelled": "cancelled by the provider",
    "paused": "waiting; paused by the provider",
    "halted": "waiting; halted by the provider",
}
FAILED = ("failed", "rolling_back", "rolled_back", "rollback_failed", "unfit")

CAMPAIGN_STATES = {
    "requested": "sent, being scheduled",
    "running": "running",
    "paused": "paused",
    "halted": "halted",
    "cancelled": "cancelled",
    "completed": "completed",
    "refused": "refused",
}
LIVE = ("requested", "running", "paused", "halted")
"""States in which a campaign still moves (its dashboard refreshes itself)."""

ORIGINS = {"operator": "you", "campaign": "provider update", "rollback": "rollback of provider update", "removal": "account removal"}
"""Who started a deployment (contracts.events.PlanCreated.origin)."""


def duration_words(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def window_words(window: WeeklyWindow) -> str:
    return f"{window.day.capitalize()}s from {window.start} for {duration_words(window.duration_minutes)} ({window.timezone})"


def local_time(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {timezone}"


def planned_words(planned_start: datetime | None, timezone: str) -> str:
    if planned_start is None:
        return FIRST_WAVE
    if timezone == "UTC":
        return local_time(planned_start, "UTC")
    return f"{local_time(planned_start, timezone)} ({planned_start:%H:%M} UTC)"


def downtime_words(minutes: int) -> str:
    if minutes <= 0:
        return "none expected"
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def part_state(part: str, campaign: str | None) -> str:
    """What the operator sees of their part: a waiting part takes the campaign's pause, halt or cancellation."""
    if part == "waiting" and campaign in ("paused", "halted", "cancelled"):
        return campaign
    return part


def origin_words(origin: str, title: str | None) -> str:
    words = ORIGINS.get(origin, origin)
    return f"{words}: {title}" if title and origin in ("campaign", "rollback") else words
