"""The read model of fleet-wide updates, from the configurator's campaign events. Each arrives on
its own consumer, so every update tolerates any order and redelivery: a notice is stored once,
an operator's part only moves forward, a campaign's state follows the newest word about it."""

import json
from datetime import datetime

from sqlalchemy import select

from contracts.fleet import (
    CampaignChoiceRefused,
    CampaignOperatorCompleted,
    CampaignOperatorFailed,
    CampaignOperatorNotified,
    CampaignOperatorRolledBack,
    CampaignOperatorStarted,
    CampaignRefused,
    CampaignScheduled,
    CampaignStateChanged,
    CampaignWaveStarted,
)
from runtime.uow import UnitOfWork

from .adapters.maintenance import CampaignView, ChoiceRecord, Notice, PartView

PART_RANK = {"waiting": 0, "started": 1, "completed": 2, "failed": 2, "rolled_back": 3, "rollback_failed": 3}
FINAL_CAMPAIGN = ("cancelled", "completed", "refused")


async def campaign_view(uow: UnitOfWork, campaign_id: str) -> CampaignView:
    view = await uow.session.get(CampaignView, campaign_id)
    if view is None:
        view = CampaignView(id=campaign_id, title="", reason="", category="routine", requested_by="", state="requested",
                            state_reason="", problems_json="[]", open_waves=0)
        uow.session.add(view)
    return view


async def _part(uow: UnitOfWork, campaign_id: str, operator_id: str) -> PartView:
    part = await uow.session.get(PartView, (campaign_id, operator_id))
    if part is None:
        part = PartView(campaign_id=campaign_id, operator_id=operator_id, state="waiting", reason="", trigger="")
        uow.session.add(part)
    return part


def _advance(part: PartView, state: str, at: datetime, **fields) -> None:
    """Forward only; at the same rank the newer event wins (a part started again after being superseded).
    What an older event knows that a newer one did not say (the deployment, the wave) still fills in."""
    rank, current = PART_RANK[state], PART_RANK.get(part.state, 0)
    newer = rank > current or (rank == current and (part.state_at is None or at >= part.state_at))
    if newer:
        part.state, part.state_at = state, at
    for name, value in fields.items():
        if newer or getattr(part, name) in (None, ""):
            setattr(part, name, value)


async def campaign_scheduled(event: CampaignScheduled, uow: UnitOfWork) -> None:
    view = await campaign_view(uow, event.campaign_id)
    view.title, view.reason, view.category, view.requested_by = event.title, event.reason, event.category, event.requested_by
    view.open_waves = max(view.open_waves, 1)
    if view.state == "requested":
        view.state, view.state_at = "running", event.occurred_at


async def campaign_refused(event: CampaignRefused, uow: UnitOfWork) -> None:
    view = await campaign_view(uow, event.campaign_id)
    view.state, view.state_at, view.problems_json = "refused", event.occurred_at, json.dumps(list(event.problems))


async def campaign_state_changed(event: CampaignStateChanged, uow: UnitOfWork) -> None:
    view = await campaign_view(uow, event.campaign_id)
    if view.state in FINAL_CAMPAIGN or (view.state != "requested" and view.state_at and view.state_at > event.occurred_at):
        return
    view.state, view.state_reason, view.state_at = event.state, event.reason, event.occurred_at


async def campaign_wave_started(event: CampaignWaveStarted, uow: UnitOfWork) -> None:
    view = await campaign_view(uow, event.campaign_id)
    view.open_waves = max(view.open_waves, event.wave + 1)


async def operator_notified(event: CampaignOperatorNotified, uow: UnitOfWork) -> None:
    """Stores the notice (its e-mail then goes out from this row) and makes it the part's newest when it is."""
    if (await uow.session.execute(select(Notice.id).where(Notice.event_id == str(event.event_id)))).first():
        return
    notice = Notice(
        event_id=str(event.event_id), operator_id=event.operator_id, campaign_id=event.campaign_id, notice=event.notice,
        title=event.title, reason=event.reason, category=event.category, changes_json=json.dumps(list(event.changes)),
        downtime_minutes=event.downtime_minutes, deadline=event.deadline, defer_limit=event.defer_limit,
        window_json=event.window.model_dump_json(), planned_start=event.planned_start, occurred_at=event.occurred_at,
        email_state="pending", email_note="", email_attempts=0,
    )
    uow.session.add(notice)
    await uow.session.flush()
    part = await _part(uow, event.campaign_id, event.operator_id)
    if part.notice_at is None or part.notice_at <= event.occurred_at:
        part.notice_id, part.notice_at = notice.id, event.occurred_at


async def operator_started(event: CampaignOperatorStarted, uow: UnitOfWork) -> None:
    part = await _part(uow, event.campaign_id, event.operator_id)
    _advance(part, "started", event.occurred_at, deployment_id=event.deployment_id, wave=event.wave, trigger=event.trigger)


async def operator_completed(event: CampaignOperatorCompleted, uow: UnitOfWork) -> None:
    part = await _part(uow, event.campaign_id, event.operator_id)
    reason = "nothing was left to change" if event.outcome == "up_to_date" else ""
    _advance(part, "completed", event.occurred_at, reason=reason, **({"deployment_id": event.deployment_id} if event.deployment_id else {}))


async def operator_failed(event: CampaignOperatorFailed, uow: UnitOfWork) -> None:
    part = await _part(uow, event.campaign_id, event.operator_id)
    if part.state in ("rolled_back", "rollback_failed") and event.reason not in part.reason:  # the rollback's word came first
        part.reason = "; ".join(filter(None, (event.reason, part.reason)))
    _advance(part, "failed", event.occurred_at, reason=event.reason, **({"deployment_id": event.deployment_id} if event.deployment_id else {}))


async def operator_rolled_back(event: CampaignOperatorRolledBack, uow: UnitOfWork) -> None:
    part = await _part(uow, event.campaign_id, event.operator_id)
    if event.ok:
        _advance(part, "rolled_back", event.occurred_at)
    else:
        _advance(part, "rollback_failed", event.occurred_at, reason="; ".join(filter(None, (part.reason, event.reason))))


async def choice_refused(event: CampaignChoiceRefused, uow: UnitOfWork) -> None:
    """The refusal lands on the choice that caused it (the panel sent it, so it is on record)."""
    record = await uow.session.get(ChoiceRecord, event.causation_id) if event.causation_id else None
    if record is None:
        record = ChoiceRecord(event_id=event.causation_id or str(event.event_id), operator_id=event.operator_id,
                              campaign_id=event.campaign_id, kind="window" if event.campaign_id is None else "", chosen_by="",
                              chosen_at=event.occurred_at)
        uow.session.add(record)
    if record.refused_at is None and record.operator_id == event.operator_id:
        record.refused_reason, record.refused_at = event.reason, event.occurred_at


HANDLERS = {
    CampaignScheduled: campaign_scheduled,
    CampaignRefused: campaign_refused,
    CampaignStateChanged: campaign_state_changed,
    CampaignWaveStarted: campaign_wave_started,
    CampaignOperatorNotified: operator_notified,
    CampaignOperatorStarted: operator_started,
    CampaignOperatorCompleted: operator_completed,
    CampaignOperatorFailed: operator_failed,
    CampaignOperatorRolledBack: operator_rolled_back,
    CampaignChoiceRefused: choice_refused,
}
