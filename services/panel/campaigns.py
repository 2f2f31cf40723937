"""The provider admin's side of fleet-wide updates: asking for a campaign and steering it (pause,
resume, cancel), each sent through the outbox and written to the audit log; and the dashboard,
from the configurator's status merged with what the panel knows (refusals, operators' choices)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.fleet import FLEET, CampaignControlRequested, CampaignRequested, CampaignStatus

from .adapters.bus import Unavailable
from .adapters.maintenance import CampaignView, ChoiceRecord, Fleetwide
from .domain import fleet_words as words
from .domain.wording import reason_words
from .fleet_projections import campaign_view
from .maintenance import choice_text
from .web.context import Context

PRODUCER = "panel"
ACTIONS = ("pause", "resume", "cancel")


class NoSuchCampaign(LookupError):
    pass


@dataclass(frozen=True)
class OperatorRow:
    operator_id: str
    wave: int
    state: str
    state_text: str
    planned_start: datetime | None
    """Only while it waits: a part that started did so when it could (apply now, a window open now), not as planned."""
    choice: str
    failure: str
    deployment_id: str | None
    downtime_text: str
    changes: tuple[str, ...]


async def request(context: Context, actor: str, fields: dict[str, Any]) -> str:
    """Sends a CampaignRequested (checked fields from domain.campaign_form); returns the campaign id."""
    campaign_id = str(uuid.uuid4())
    async with context.units() as uow:
        view = await campaign_view(uow, campaign_id)
        view.title, view.reason, view.category, view.requested_by = fields["title"], fields["reason"], fields["category"], actor
        uow.publish(CampaignRequested(correlation_id=campaign_id, operator_id=FLEET, producer=PRODUCER, requested_by=actor, **fields))
        await uow.commit()
    await context.auditor.record(actor, "campaign.requested", campaign_id, title=fields["title"], category=fields["category"],
                                 changes=",".join(sorted(fields["policy_changes"])))
    return campaign_id


async def control(context: Context, actor: str, campaign_id: str, action: str) -> None:
    async with context.units() as uow:
        uow.publish(CampaignControlRequested(correlation_id=campaign_id, operator_id=FLEET, producer=PRODUCER, campaign_id=campaign_id,
                                             action=action, requested_by=actor))
        await uow.commit()
    await context.auditor.record(actor, f"campaign.{action}", campaign_id)


async def _status(context: Context, campaign_id: str | None = None) -> tuple[tuple[CampaignStatus, ...], bool]:
    """(what the configurator says, whether it answered)."""
    try:
        return (await context.fleet.status(campaign_id=campaign_id)).campaigns, True
    except Unavailable:
        return (), False


async def listing(context: Context) -> dict[str, Any]:
    """Every campaign, newest first: the configurator's, and those only the panel knows (being scheduled, refused)."""
    campaigns, answered = await _status(context)
    async with context.units.database.session() as session:
        known = await Fleetwide(session).campaigns()
    told = {campaign.campaign_id for campaign in campaigns}
    rows = [
        {"id": c.campaign_id, "title": c.title, "category": c.category, "state": c.state, "created_at": c.created_at,
         "deadline": c.deadline, "operators": sum(c.wave_sizes)}
        for c in campaigns
    ] + [
        {"id": v.id, "title": v.title, "category": v.category, "state": v.state, "created_at": v.created_at, "deadline": None, "operators": None}
        for v in known if v.id not in told
    ]
    rows.sort(key=lambda row: row["created_at"], reverse=True)
    return {"campaigns": rows, "answered": answered, "states": words.CAMPAIGN_STATES}


def _choice(status_choice: str | None, latest: ChoiceRecord | None, window: ChoiceRecord | None) -> str:
    if latest and latest.refused_at:
        return f"{choice_text(latest)}, refused: {latest.refused_reason}"
    if status_choice in ("apply_now", "defer") and latest and latest.kind == status_choice:
        return choice_text(latest)
    if status_choice == "apply_now":
        return "apply now"
    if status_choice == "defer":
        return "defer"
    if window:
        return choice_text(window).replace("your own window", "own window")
    return "the provider's default window"


def left_to_do(state: str, rows: list[OperatorRow], open_waves: int, waves: int) -> list[str]:
    counts = {key: sum(1 for row in rows if row.state == key) for key in ("waiting", "started", "completed")}
    failed = sum(1 for row in rows if row.state in words.FAILED)
    lines = [f"{counts['waiting']} waiting, {counts['started']} being updated, {counts['completed']} updated, {failed} failed."]
    if waves:
        lines.append(f"{open_waves} of {waves} wave{'s' if waves != 1 else ''} open.")
    # nothing more starts, yet a failed operator still runs its old configuration: not "nothing left"
    done = f"Nothing more starts; {failed} failed operator{'s are' if failed != 1 else ' is'} not updated." if failed else "Nothing left to do."
    lines.append({
        "paused": "Paused: nothing more starts until it is resumed.",
        "halted": "Halted: too many failed; nothing more starts until it is resumed.",
        "cancelled": "Cancelled: nothing more starts.",
        "completed": done,
        "refused": "Nothing was sent to operators.",
        "requested": "The configurator has not scheduled it yet.",
    }.get(state, "Operators are updated in their windows as their waves open." if counts["waiting"] or counts["started"] else done))
    return lines


async def dashboard(context: Context, campaign_id: str) -> dict[str, Any]:
    found, answered = await _status(context, campaign_id)
    async with context.units.database.session() as session:
        fleetwide = Fleetwide(session)
        view: CampaignView | None = await fleetwide.campaign(campaign_id)
        choices, windows = await fleetwide.latest_choices(campaign_id), await fleetwide.latest_windows()
    status = found[0] if found else None
    if status is None and view is None:
        raise NoSuchCampaign(campaign_id)
    rows = [
        OperatorRow(
            operator_id=o.operator_id, wave=o.wave + 1, state=o.state, state_text=words.PART_STATES.get(o.state, o.state),
            planned_start=o.planned_start if o.state == "waiting" else None, choice=_choice(o.choice, choices.get(o.operator_id), windows.get(o.operator_id)),
            failure=reason_words(o.reason) if o.state in words.FAILED else "", deployment_id=o.deployment_id,
            downtime_text=words.downtime_words(o.downtime_minutes), changes=o.changes,
        )
        for o in (status.operators if status else ())
    ]
    state = (view.state if view and view.state == "refused" else None) or (status.state if status else view.state)
    return {
        "campaign_id": campaign_id,
        "title": status.title if status else view.title,
        "reason": status.reason if status else view.reason,
        "category": status.category if status else view.category,
        "requested_by": status.requested_by if status else view.requested_by,
        "state": state,
        "state_text": words.CAMPAIGN_STATES.get(state, state),
        "state_reason": status.state_reason if status else (view.state_reason if view else ""),
        "problems": view.problems if view else [],
        "earliest_start": status.earliest_start if status else None,
        "deadline": status.deadline if status else None,
        "waves": [{"number": n + 1, "size": size, "open": n < status.open_waves} for n, size in enumerate(status.wave_sizes)] if status else [],
        "failure_threshold": status.failure_threshold if status else None,
        "operators": rows,
        "left": left_to_do(state, rows, status.open_waves if status else 0, len(status.wave_sizes) if status else 0),
        "live": state in words.LIVE,
        "answered": answered,
        "actions": [a for a, allowed in (("pause", state == "running"), ("resume", state in ("paused", "halted")),
                                        ("cancel", state in ("running", "paused", "halted"))) if allowed],
    }
