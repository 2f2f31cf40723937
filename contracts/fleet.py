"""Fleet-wide updates (US 2.3, 3.3): the provider rolls a policy change out to every operator it
affects, each inside a maintenance window the operator chooses.

A campaign belongs to no single operator: its own messages carry `operator_id=FLEET`; the messages
about one operator's part in it carry that operator's id. Its correlation id is the campaign id.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import subjects
from .envelope import Command, Message

FLEET = "_fleet"
"""The operator_id of messages about a whole campaign."""

CampaignCategory = Literal["routine", "security"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WeeklyWindow(_Frozen):
    """A weekly maintenance window in the operator's own time zone."""

    day: Weekday = Field(description="Day of the week the window opens.", examples=["sunday"])
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time it opens, HH:MM.", examples=["02:00"])
    duration_minutes: int = Field(ge=1, le=24 * 60, description="How long it stays open.", examples=[240])
    timezone: str = Field(description="IANA time zone, e.g. Europe/Amsterdam.", examples=["Europe/Amsterdam"])


class Waves(_Frozen):
    """How a campaign moves through the fleet: a canary wave, a soak, then ever larger waves."""

    canary: int = Field(default=1, ge=1, description="Operators in the first (canary) wave.")
    growth: float = Field(default=4.0, ge=1.0, le=100.0, description="Each later wave is this many times the one before.")
    soak_minutes: int = Field(default=60, ge=0, description="Time between one wave finishing and the next opening.")
    failure_threshold: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Share of a wave's operators that may fail before the campaign halts."
    )


ChoiceKind = Literal["window", "apply_now", "defer"]


class MaintenanceChoice(_Frozen):
    kind: ChoiceKind = Field(description="window: this weekly window from now on; apply_now: update at once; defer: not before defer_until.")
    window: WeeklyWindow | None = None
    defer_until: datetime | None = Field(default=None, description="With kind=defer: the update waits for the first window after this moment.")


class OperatorImpactSummary(_Frozen):
    operator_id: str
    changes: tuple[str, ...] = Field(description="What changes, in plain words, one line each.")
    downtime_minutes: int = Field(description="Expected downtime of the services during the update.")
    problems: tuple[str, ...] = Field(default=(), description="Set when the operator's configuration no longer fits the new policy.")


# -- commands (panel or `fedi fleet` -> configurator) ------------------------------------------------


class CampaignRequested(Command):
    """A provider admin asks for a fleet-wide update: a policy change, rolled out in windows."""

    type: Literal["campaign.requested"] = subjects.CAMPAIGN_REQUESTED
    version: Literal[1] = 1
    title: str = Field(min_length=1, max_length=120, description="Short name shown to operators.", examples=["Fediversity 25.05"])
    reason: str = Field(max_length=2000, description="Why: what operators are told.")
    category: CampaignCategory = Field(description="routine or security: security campaigns are forced at their deadline, window or not.")
    policy_changes: dict[str, Any] = Field(
        description="The part of the provider policy that changes (merged key by key into the current policy), e.g. {\"release\": \"25.05\"}."
    )
    notice_days: float = Field(ge=0, le=90, description="Days between the notice and the earliest update.")
    deadline: datetime = Field(description="Routine: no deferral past it. Security: applied at it at the latest, even outside the window.")
    waves: Waves = Waves()
    requested_by: str = Field(description="Who asked (a provider admin's e-mail, or the CLI's user).")


class CampaignControlRequested(Command):
    type: Literal["campaign.control.requested"] = subjects.CAMPAIGN_CONTROL_REQUESTED
    version: Literal[1] = 1
    campaign_id: str
    action: Literal["pause", "resume", "cancel"]
    requested_by: str


class MaintenanceWindowChosen(Message):
    """An operator chose how their updates happen (panel -> configurator)."""

    type: Literal["campaign.window.chosen"] = subjects.CAMPAIGN_WINDOW_CHOSEN
    version: Literal[1] = 1
    campaign_id: str | None = Field(default=None, description="The campaign an apply_now or defer is for; a window applies to every campaign.")
    choice: MaintenanceChoice


# -- events (configurator -> panel, operations) ------------------------------------------------------


class CampaignScheduled(Message):
    type: Literal["campaign.scheduled"] = subjects.CAMPAIGN_SCHEDULED
    version: Literal[1] = 1
    campaign_id: str
    title: str
    reason: str
    category: CampaignCategory
    requested_by: str
    earliest_start: datetime
    deadline: datetime
    affected: tuple[OperatorImpactSummary, ...] = Field(description="Operators whose plan changes, with what and how much downtime.")
    unaffected: int = Field(description="Operators whose plan does not change: they hear nothing.")
    waves: tuple[int, ...] = Field(description="How many operators each wave holds, canary first.")


class CampaignRefused(Message):
    type: Literal["campaign.refused"] = subjects.CAMPAIGN_REFUSED
    version: Literal[1] = 1
    campaign_id: str
    problems: tuple[str, ...]


NoticeKind = Literal["notice", "reminder", "rescheduled"]


class CampaignOperatorNotified(Message):
    """An operator is told about an update: the first notice, a reminder, or a new planned time."""

    type: Literal["campaign.operator.notified"] = subjects.CAMPAIGN_OPERATOR_NOTIFIED
    version: Literal[1] = 1
    campaign_id: str
    notice: NoticeKind
    title: str
    reason: str
    category: CampaignCategory
    changes: tuple[str, ...]
    downtime_minutes: int
    deadline: datetime
    defer_limit: datetime = Field(description="The latest moment an operator may defer to.")
    window: WeeklyWindow = Field(description="The window in effect: the operator's own or the provider's default.")
    planned_start: datetime | None = Field(description="When the update is planned to start; None until its wave opens.")


class CampaignChoiceRefused(Message):
    type: Literal["campaign.choice.refused"] = subjects.CAMPAIGN_CHOICE_REFUSED
    version: Literal[1] = 1
    campaign_id: str | None
    reason: str


class CampaignOperatorStarted(Message):
    type: Literal["campaign.operator.started"] = subjects.CAMPAIGN_OPERATOR_STARTED
    version: Literal[1] = 1
    campaign_id: str
    deployment_id: str
    wave: int
    trigger: Literal["window", "apply_now", "deferred", "forced"]


class CampaignOperatorCompleted(Message):
    type: Literal["campaign.operator.completed"] = subjects.CAMPAIGN_OPERATOR_COMPLETED
    version: Literal[1] = 1
    campaign_id: str
    deployment_id: str | None = Field(description="None when nothing was left to change.")
    outcome: Literal["updated", "up_to_date"]


class CampaignOperatorFailed(Message):
    type: Literal["campaign.operator.failed"] = subjects.CAMPAIGN_OPERATOR_FAILED
    version: Literal[1] = 1
    campaign_id: str
    deployment_id: str | None
    reason: str


class CampaignOperatorRolledBack(Message):
    """A failed operator was brought back to its last good configuration (or that failed too)."""

    type: Literal["campaign.operator.rolled_back"] = subjects.CAMPAIGN_OPERATOR_ROLLED_BACK
    version: Literal[1] = 1
    campaign_id: str
    deployment_id: str
    ok: bool
    reason: str = ""


class CampaignWaveStarted(Message):
    type: Literal["campaign.wave.started"] = subjects.CAMPAIGN_WAVE_STARTED
    version: Literal[1] = 1
    campaign_id: str
    wave: int
    operators: tuple[str, ...]


class CampaignStateChanged(Message):
    """The campaign as a whole moved: paused, resumed, halted (too many failures), cancelled, completed."""

    type: Literal["campaign.state.changed"] = subjects.CAMPAIGN_STATE_CHANGED
    version: Literal[1] = 1
    campaign_id: str
    state: Literal["running", "paused", "halted", "cancelled", "completed"]
    reason: str
    requested_by: str | None = None


# -- request/reply -------------------------------------------------------------------------------------


class CampaignPreviewRequest(_Frozen):
    """What would these policy changes do to the fleet? Computed without side effects."""

    policy_changes: dict[str, Any]


class CampaignPreviewReply(_Frozen):
    affected: tuple[OperatorImpactSummary, ...] = ()
    unaffected: int = 0
    problems: tuple[str, ...] = Field(default=(), description="Set when the changed policy itself is invalid.")


class CampaignOperatorStatus(_Frozen):
    operator_id: str
    wave: int
    state: str
    planned_start: datetime | None
    choice: ChoiceKind | None
    deployment_id: str | None
    reason: str
    changes: tuple[str, ...]
    downtime_minutes: int


class CampaignStatus(_Frozen):
    campaign_id: str
    title: str
    reason: str
    category: CampaignCategory
    state: str
    state_reason: str = Field(description="Why it is in that state: who paused it, what halted it.")
    paused: bool
    requested_by: str
    created_at: datetime
    earliest_start: datetime
    deadline: datetime
    open_waves: int
    wave_sizes: tuple[int, ...]
    failure_threshold: float
    operators: tuple[CampaignOperatorStatus, ...]


class CampaignStatusRequest(_Frozen):
    campaign_id: str | None = Field(default=None, description="None: every campaign, newest first (operators left out).")
    operator_id: str | None = Field(default=None, description="Only this operator's part.")


class CampaignStatusReply(_Frozen):
    campaigns: tuple[CampaignStatus, ...] = ()
