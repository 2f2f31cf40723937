"""How a campaign moves through the fleet, decided from its state and the time alone (no I/O), so
that weeks of schedule can be tested in a moment with a fake clock.

Operators are put in waves: a small canary wave, then ever larger ones. A wave opens when the one
before it has finished and soaked; its operators then start in their own windows (the provider's
default window when they chose none), after the notice period, after any deferral they asked for.
"apply now" starts at once. A security campaign starts whoever is left at its deadline, window or
not. When more of a wave fails than the threshold allows, the campaign halts: nothing more starts.
"""

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from contracts.fleet import WeeklyWindow

from .windows import slot

WAITING = "waiting"
STARTED = "started"
FAILED_STATES = frozenset({"failed", "rolling_back", "rolled_back", "rollback_failed"})
FINISHED = frozenset({"completed", "rolled_back", "rollback_failed", "cancelled"})


class CampaignLike(Protocol):
    id: str
    category: str
    state: str
    paused: bool
    earliest_start: datetime
    deadline: datetime
    soak_minutes: int
    failure_threshold: float
    resumed_at: datetime | None

    @property
    def wave_sizes(self) -> list[int]: ...
    @property
    def wave_opened_at(self) -> list[datetime]: ...


class PartLike(Protocol):
    operator_id: str
    wave: int
    state: str
    choice: str | None
    chosen_at: datetime | None
    defer_until: datetime | None
    planned_start: datetime | None
    finished_at: datetime | None

    @property
    def reminders_sent(self) -> list[int]: ...


def wave_sizes(count: int, canary: int, growth: float) -> list[int]:
    sizes, size = [], min(canary, count)
    while (left := count - sum(sizes)) > 0:
        sizes.append(min(size, left))
        size = max(size + 1, math.ceil(size * growth))
    return sizes


def in_waves(campaign_id: str, operators: Sequence[str], sizes: Sequence[int]) -> dict[str, int]:
    """Each operator's wave: a shuffle that is the same for the same campaign, so that no operator is
    always the canary, and a restart changes nothing."""
    order = sorted(operators, key=lambda op: hashlib.sha256(f"{campaign_id}/{op}".encode()).digest())
    waves, start = {}, 0
    for wave, size in enumerate(sizes):
        waves.update(dict.fromkeys(order[start : start + size], wave))
        start += size
    return waves


# -- what to do now ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    operator_id: str
    trigger: str


@dataclass(frozen=True)
class Reschedule:
    """The planned start became known or moved: the operator is told."""

    operator_id: str
    planned_start: datetime | None


@dataclass(frozen=True)
class Remind:
    operator_id: str
    hours_before: tuple[int, ...]
    """Every reminder this one stands for (a late wave may make several due at once)."""


@dataclass(frozen=True)
class OpenWave:
    wave: int


@dataclass(frozen=True)
class Halt:
    wave: int
    failed: int
    size: int


@dataclass(frozen=True)
class Finish:
    pass


Move = Start | Reschedule | Remind | OpenWave | Halt | Finish


def planned_start(campaign: CampaignLike, part: PartLike, window: WeeklyWindow, now: datetime) -> tuple[datetime | None, str]:
    """(when the operator's update should start, and why then); None while its wave is not open."""
    if part.choice == "apply_now":
        return part.chosen_at or now, "apply_now"
    forced = campaign.category == "security"
    opened = campaign.wave_opened_at
    if part.wave >= len(opened):
        return (campaign.deadline, "forced") if forced else (None, "window")
    deferred = part.choice == "defer" and part.defer_until is not None
    earliest = max(campaign.earliest_start, opened[part.wave], part.defer_until if deferred else opened[part.wave])
    start, latest = slot(window, earliest)
    if latest < now:  # that window went by unused (the service was down): the next one
        start, _ = slot(window, now)
    trigger = "deferred" if deferred else "window"
    if forced and campaign.deadline < start:
        return campaign.deadline, "forced"
    return start, trigger


def decide(
    campaign: CampaignLike,
    parts: Sequence[PartLike],
    window_of: Callable[[str], WeeklyWindow],
    now: datetime,
    reminders_hours: Sequence[int],
) -> list[Move]:
    if campaign.state != "running":
        return []
    if halt := _halt(campaign, parts):
        return [halt]
    if campaign.paused:
        return []
    moves: list[Move] = []
    for part in parts:
        if part.state != WAITING:
            continue
        start, trigger = planned_start(campaign, part, window_of(part.operator_id), now)
        if start is not None and now >= start:
            moves.append(Start(part.operator_id, trigger))
            continue
        if start != part.planned_start:
            moves.append(Reschedule(part.operator_id, start))
        if start is not None and (due := _due_reminders(part, start, now, reminders_hours)):
            moves.append(Remind(part.operator_id, due))
    moves += _waves(campaign, parts, now)
    return moves


def _halt(campaign: CampaignLike, parts: Sequence[PartLike]) -> Halt | None:
    for wave in range(len(campaign.wave_opened_at)):
        members = [part for part in parts if part.wave == wave]
        failed = [
            part for part in members
            if part.state in FAILED_STATES and (campaign.resumed_at is None or (part.finished_at or campaign.resumed_at) > campaign.resumed_at)
        ]
        if members and len(failed) / len(members) > campaign.failure_threshold:
            return Halt(wave, len(failed), len(members))
    return None


def _due_reminders(part: PartLike, start: datetime, now: datetime, reminders_hours: Sequence[int]) -> tuple[int, ...]:
    due = tuple(h for h in reminders_hours if h not in part.reminders_sent and now >= start - timedelta(hours=h))
    return due if due and now < start else ()


def _waves(campaign: CampaignLike, parts: Sequence[PartLike], now: datetime) -> list[Move]:
    opened, sizes = campaign.wave_opened_at, campaign.wave_sizes
    last = [part for part in parts if part.wave == len(opened) - 1]
    if any(part.state not in FINISHED for part in last):
        return []
    if len(opened) < len(sizes):
        finished = max((part.finished_at for part in last if part.finished_at), default=opened[-1] if opened else now)
        if not opened or now >= finished + timedelta(minutes=campaign.soak_minutes):
            return [OpenWave(len(opened))]
        return []
    if all(part.state in FINISHED for part in parts):
        return [Finish()]
    return []
