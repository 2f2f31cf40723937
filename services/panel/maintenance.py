"""An operator's side of fleet-wide updates: what they were told and where each update stands, and
their choices (a weekly window, apply now, a deferral): checked, kept on record, sent to the
configurator through the outbox in one transaction, then written to the audit log."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contracts.fleet import MaintenanceChoice, MaintenanceWindowChosen, WeeklyWindow

from .adapters.maintenance import CampaignView, ChoiceRecord, Maintenance, Notice, PartView
from .adapters.store import now
from .domain import fleet_words as words
from .domain.maintenance import checked_deferral, checked_window, last_deferral_day
from .domain.wording import reason_words
from .web.context import Context

PRODUCER = "panel"
FINISHED_CAMPAIGN = ("cancelled", "completed", "refused")


class NoSuchUpdate(LookupError):
    """The operator has no part in that campaign."""


class NotWaiting(Exception):
    """The update is no longer waiting to start, so there is nothing left to choose."""


@dataclass(frozen=True)
class Update:
    """One campaign as the operator sees their part in it."""

    campaign_id: str
    title: str
    category: str
    state: str
    state_text: str
    why: str
    reason: str
    """Why the operator's part failed, if it did."""
    changes: list[str]
    downtime_text: str
    planned_start: datetime | None
    planned_text: str
    window_text: str
    deadline: datetime | None
    last_deferral_day: date | None
    waiting: bool
    chosen: str
    refused: str
    deployment_id: str | None


def choice_text(choice: ChoiceRecord) -> str:
    if choice.kind == "apply_now":
        return "apply now"
    if choice.kind == "defer" and choice.defer_until:
        return f"defer until {choice.defer_until:%Y-%m-%d}"
    if choice.kind == "window" and choice.window:
        return f"your own window: {words.window_words(choice.window)}"
    return "a choice"


def _update(part: PartView, campaign: CampaignView | None, notice: Notice | None, choices: list[ChoiceRecord]) -> Update:
    state = words.part_state(part.state, campaign.state if campaign else None)
    timezone = notice.window.timezone if notice else "UTC"
    mine = [choice for choice in choices if choice.campaign_id == part.campaign_id]
    waiting = part.state == "waiting" and (campaign is None or campaign.state not in FINISHED_CAMPAIGN) and notice is not None
    return Update(
        campaign_id=part.campaign_id,
        title=(notice.title if notice else "") or (campaign.title if campaign else "") or "An update",
        category=notice.category if notice else (campaign.category if campaign else "routine"),
        state=state,
        state_text=words.PART_STATES.get(state, state),
        why=(notice.reason if notice else "") or (campaign.reason if campaign else ""),
        reason=reason_words(part.reason) if state in words.FAILED else "",
        changes=notice.changes if notice else [],
        downtime_text=words.downtime_words(notice.downtime_minutes) if notice else "",
        # once it started it did so when it could (apply now, a window open now, the deadline), not as planned
        planned_start=notice.planned_start if notice and part.state == "waiting" else None,
        planned_text=(words.planned_words(notice.planned_start, timezone) if notice else words.FIRST_WAVE) if part.state == "waiting" else "",
        window_text=words.window_words(notice.window) if notice else "",
        deadline=notice.deadline if notice else None,
        last_deferral_day=last_deferral_day(notice.defer_limit, timezone) if notice else None,
        waiting=waiting,
        chosen=choice_text(mine[0]) if mine and not mine[0].refused_at else "",
        refused=mine[0].refused_reason or "" if mine and mine[0].refused_at else "",
        deployment_id=part.deployment_id,
    )


def _notice(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id, "campaign_id": notice.campaign_id, "kind": notice.notice, "kind_text": words.NOTICE_KINDS.get(notice.notice, notice.notice),
        "title": notice.title, "category": notice.category, "sent_at": notice.occurred_at, "unread": notice.read_at is None,
        "planned_text": words.planned_words(notice.planned_start, notice.window.timezone),
        "downtime_text": words.downtime_words(notice.downtime_minutes), "emailed": notice.email_state == "sent",
    }


async def overview(context: Context, operator_id: str) -> dict[str, Any]:
    """Notices newest first, each update's state, the window in effect and the newest window choice."""
    async with context.units.database.session() as session:
        maintenance = Maintenance(session, operator_id)
        notices, parts, choices = await maintenance.notices(), await maintenance.parts(), await maintenance.choices()
    window_choices = [choice for choice in choices if choice.kind == "window"]
    accepted = next((choice.window for choice in window_choices if not choice.refused_at and choice.window), None)
    in_effect = accepted or (notices[0].window if notices else None)
    return {
        "notices": [_notice(notice) for notice in notices],
        "updates": [_update(part, campaign, notice, choices) for part, campaign, notice in parts],
        "window": in_effect,
        "window_text": words.window_words(in_effect) if in_effect else "",
        "own_window": accepted is not None,
        "window_refused": window_choices[0].refused_reason if window_choices and window_choices[0].refused_at else "",
        "unread": sum(1 for notice in notices if notice.read_at is None),
        "newest_notice": max((notice.id for notice in notices), default=0),
    }


async def mark_read(context: Context, operator_id: str, up_to: int) -> None:
    async with context.units.database.session() as session:
        await Maintenance(session, operator_id).mark_read(up_to)
        await session.commit()


async def _send(context: Context, operator_id: str, actor: str, choice: MaintenanceChoice, campaign_id: str | None) -> None:
    message = MaintenanceWindowChosen(
        correlation_id=campaign_id or str(uuid.uuid4()), operator_id=operator_id, producer=PRODUCER, campaign_id=campaign_id, choice=choice,
    )
    async with context.units() as uow:
        uow.session.add(ChoiceRecord(
            event_id=str(message.event_id), operator_id=operator_id, campaign_id=campaign_id, kind=choice.kind,
            window_json=choice.window.model_dump_json() if choice.window else None, defer_until=choice.defer_until,
            chosen_by=actor, chosen_at=now(),
        ))
        uow.publish(message)
        await uow.commit()
    details = {"campaign_id": campaign_id or ""} | (choice.window.model_dump(mode="json") if choice.window else {})
    if choice.defer_until:
        details["defer_until"] = choice.defer_until.isoformat()
    await context.auditor.record(actor, f"maintenance.{choice.kind}", operator_id, **{k: str(v) for k, v in details.items()})


async def choose_window(context: Context, operator_id: str, actor: str, typed: Mapping[str, Any]) -> WeeklyWindow:
    """Raises FieldProblems (keyed day, start, duration_minutes, timezone) when the window cannot be had."""
    window = checked_window(typed, context.settings.minimum_window_minutes)
    await _send(context, operator_id, actor, MaintenanceChoice(kind="window", window=window), None)
    return window


async def _waiting(context: Context, operator_id: str, campaign_id: str) -> Notice:
    async with context.units.database.session() as session:
        found = await Maintenance(session, operator_id).part(campaign_id)
    if found is None:
        raise NoSuchUpdate(campaign_id)
    part, campaign, notice = found
    if not _update(part, campaign, notice, []).waiting:
        raise NotWaiting("this update is not waiting to start any more")
    return notice


async def apply_now(context: Context, operator_id: str, actor: str, campaign_id: str) -> None:
    await _waiting(context, operator_id, campaign_id)
    await _send(context, operator_id, actor, MaintenanceChoice(kind="apply_now"), campaign_id)


async def defer(context: Context, operator_id: str, actor: str, campaign_id: str, typed_date: str) -> datetime:
    """Raises FieldProblems (keyed defer_until) for a date that is past or beyond the update's limit."""
    notice = await _waiting(context, operator_id, campaign_id)
    until = checked_deferral(typed_date, notice.defer_limit, notice.window.timezone, now())
    await _send(context, operator_id, actor, MaintenanceChoice(kind="defer", defer_until=until), campaign_id)
    return until
