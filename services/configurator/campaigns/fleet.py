"""Fleet-wide updates in the configurator: a campaign request becomes each affected operator's part,
the scheduler moves parts on as time passes (rollout.decide), and deployment outcomes finish them.

campaign.requested          -> campaign.scheduled (the impact) and a notice to each affected operator,
                               or campaign.refused when the changed policy is not valid
campaign.control.requested  -> campaign.state.changed (paused, running, cancelled)
campaign.window.chosen      -> the choice is kept (the next tick reschedules), or campaign.choice.refused
deployment.succeeded/failed/cancelled of a campaign's plan
                            -> campaign.operator.completed / .failed (then a rollback plan) / waiting again
the scheduler's tick        -> waves, reminders, new planned times, plan.created for each start
"""

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from contracts.events import PlanCreated
from contracts.fleet import (
    FLEET,
    CampaignChoiceRefused,
    CampaignControlRequested,
    CampaignOperatorCompleted,
    CampaignOperatorFailed,
    CampaignOperatorNotified,
    CampaignOperatorRolledBack,
    CampaignOperatorStarted,
    CampaignOperatorStatus,
    CampaignPreviewReply,
    CampaignPreviewRequest,
    CampaignRefused,
    CampaignRequested,
    CampaignScheduled,
    CampaignStateChanged,
    CampaignStatus,
    CampaignStatusReply,
    CampaignStatusRequest,
    CampaignWaveStarted,
    MaintenanceWindowChosen,
    WeeklyWindow,
)
from contracts.resources import Change
from runtime import logs
from runtime.uow import UnitOfWork, UnitsOfWork

from ..adapters.store import DesiredStates
from ..domain.diff import diff
from ..domain.planning import InvalidConfiguration
from ..domain.plans import OperatorImpact, plan_configuration, policy_impact
from ..domain.policy import Policy, PolicyError
from ..policies import Policies
from . import rollout
from .impact import summary
from .store import Campaign, Campaigns, Part
from .windows import WindowProblem, check_window

PRODUCER = "configurator"
log = logs.get("campaigns")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Fleet:
    def __init__(self, units: UnitsOfWork, policies: Policies, clock: Clock | None = None) -> None:
        self.units = units
        self.policies = policies
        self.clock = clock or SystemClock()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # -- a new campaign ------------------------------------------------------------------------------

    async def _impact(self, session, changes: dict) -> tuple[Policy, list[OperatorImpact], int]:
        """(the changed policy, every operator's impact under it that is not nothing, how many see nothing)."""
        policy = await self.policies.with_changes(session, changes)
        fleet = [(s.operator_id, s.configuration, s.resources) for s in await DesiredStates(session).applied_per_operator() if s.configuration]
        impacts = policy_impact(policy, fleet)
        touched = [impact for impact in impacts if impact.changes or impact.problems]
        return policy, touched, len(impacts) - len(touched)

    async def preview(self, request: CampaignPreviewRequest) -> CampaignPreviewReply:
        async with self.units() as uow:  # read only: never committed
            try:
                _, touched, unaffected = await self._impact(uow.session, request.policy_changes)
            except PolicyError as exc:
                return CampaignPreviewReply(problems=tuple(exc.problems))
        return CampaignPreviewReply(affected=tuple(summary(impact) for impact in touched), unaffected=unaffected)

    async def request(self, event: CampaignRequested, uow: UnitOfWork) -> None:
        campaigns = Campaigns(uow.session)
        campaign_id = event.correlation_id
        if await campaigns.get(campaign_id) is not None:
            return
        try:
            policy, touched, unaffected = await self._impact(uow.session, event.policy_changes)
        except PolicyError as exc:
            uow.publish(event.caused(CampaignRefused, PRODUCER, campaign_id=campaign_id, problems=tuple(exc.problems)))
            return
        now = self.clock.now()
        if event.deadline <= now:
            uow.publish(event.caused(CampaignRefused, PRODUCER, campaign_id=campaign_id, problems=("deadline: it has passed already",)))
            return
        updatable = [impact for impact in touched if not impact.problems]
        sizes = rollout.wave_sizes(len(updatable), event.waves.canary, event.waves.growth)
        waves = rollout.in_waves(campaign_id, [impact.operator for impact in updatable], sizes)
        campaign = Campaign(
            id=campaign_id, title=event.title, reason=event.reason, category=event.category, requested_by=event.requested_by,
            policy_changes_json=_json(event.policy_changes), created_at=now,
            earliest_start=min(now + timedelta(days=event.notice_days), event.deadline), deadline=event.deadline,
            soak_minutes=event.waves.soak_minutes, failure_threshold=event.waves.failure_threshold,
            state="running", paused=False, state_reason="", wave_sizes_json=_json(sizes), wave_opened_json="[]",
        )
        campaign.open_wave(now)
        uow.session.add(campaign)
        summaries = {impact.operator: summary(impact) for impact in touched}
        scheduled = event.caused(
            CampaignScheduled, PRODUCER, campaign_id=campaign_id, title=event.title, reason=event.reason, category=event.category,
            requested_by=event.requested_by, earliest_start=campaign.earliest_start, deadline=event.deadline,
            affected=tuple(summaries.values()), unaffected=unaffected, waves=tuple(sizes),
        )
        uow.publish(scheduled)
        windows = await campaigns.windows()
        for impact in touched:
            part = Part(
                campaign_id=campaign_id, operator_id=impact.operator, wave=waves.get(impact.operator, -1),
                state="unfit" if impact.problems else rollout.WAITING, changes_json=_json(summaries[impact.operator].changes),
                downtime_minutes=summaries[impact.operator].downtime_minutes, reminders_json="[]",
                reason="; ".join(summaries[impact.operator].problems),
            )
            uow.session.add(part)
            if part.state == rollout.WAITING:
                window = windows.get(part.operator_id, policy.maintenance.default_window)
                part.planned_start, _ = rollout.planned_start(campaign, part, window, now)
                uow.publish(_notice(campaign, part, window, "notice", str(scheduled.event_id)))
        uow.after_commit(self.wake)
        log.info("campaign scheduled", campaign_id=campaign_id, affected=len(updatable), unfit=len(touched) - len(updatable),
                 unaffected=unaffected, waves=sizes)

    # -- the provider's and the operators' say -------------------------------------------------------

    async def control(self, event: CampaignControlRequested, uow: UnitOfWork) -> None:
        campaign = await Campaigns(uow.session).get(event.campaign_id)
        if campaign is None or campaign.state in ("cancelled", "completed"):
            return
        now = self.clock.now()
        if event.action == "pause":
            campaign.paused = True
        elif event.action == "resume":
            campaign.paused = False
            if campaign.state == "halted":
                campaign.state, campaign.resumed_at = "running", now
        else:
            campaign.state = "cancelled"
            for part in await Campaigns(uow.session).parts(campaign.id):
                if part.state == rollout.WAITING:
                    part.finish("cancelled", now, "the provider cancelled the update")
        state = "paused" if campaign.paused and campaign.state == "running" else campaign.state
        campaign.state_reason = f"{event.action} asked by {event.requested_by}"
        uow.publish(event.caused(CampaignStateChanged, PRODUCER, campaign_id=campaign.id, state=state,
                                 reason=campaign.state_reason, requested_by=event.requested_by))
        uow.after_commit(self.wake)

    async def choose(self, event: MaintenanceWindowChosen, uow: UnitOfWork) -> None:
        campaigns = Campaigns(uow.session)
        choice, now = event.choice, self.clock.now()
        policy = await self.policies.current(uow.session)
        try:
            if choice.kind == "window":
                if choice.window is None:
                    raise WindowProblem("a window choice needs its day, start time, length and time zone")
                check_window(choice.window, policy.maintenance.minimum_window_minutes)
                await campaigns.choose_window(event.operator_id, choice.window, now)
            else:
                part = await campaigns.part(event.campaign_id or "", event.operator_id)
                campaign = await campaigns.get(event.campaign_id or "")
                if part is None or campaign is None or part.state != rollout.WAITING:
                    raise WindowProblem("that update is not waiting to start any more")
                if choice.kind == "defer":
                    _check_deferral(campaign, choice.defer_until)
                part.choice, part.chosen_at, part.defer_until = choice.kind, now, choice.defer_until
        except WindowProblem as problem:
            uow.publish(event.caused(CampaignChoiceRefused, PRODUCER, campaign_id=event.campaign_id, reason=str(problem)))
            return
        uow.after_commit(self.wake)

    # -- how its deployments ended -------------------------------------------------------------------

    async def deployment_ended(self, deployment_id: str, outcome: str, reason: str, uow: UnitOfWork) -> None:
        """succeeded, failed or cancelled: the part it belongs to (if any) moves on."""
        campaigns = Campaigns(uow.session)
        part = await campaigns.part_of_deployment(deployment_id)
        if part is None:
            return
        campaign, now = await campaigns.get(part.campaign_id), self.clock.now()
        envelope = dict(correlation_id=campaign.id, operator_id=part.operator_id, producer=PRODUCER)
        if deployment_id == part.rollback_deployment_id:
            if part.state == "rolling_back" and outcome != "cancelled":
                part.finish("rolled_back" if outcome == "succeeded" else "rollback_failed", now, part.reason)
                uow.publish(CampaignOperatorRolledBack(**envelope, campaign_id=campaign.id, deployment_id=deployment_id,
                                                       ok=outcome == "succeeded", reason="" if outcome == "succeeded" else reason))
        elif part.state == rollout.STARTED:
            if outcome == "succeeded":
                part.finish("completed", now)
                uow.publish(CampaignOperatorCompleted(**envelope, campaign_id=campaign.id, deployment_id=deployment_id, outcome="updated"))
            elif outcome == "cancelled":  # superseded by the operator's own newer deployment: plan again later
                part.state, part.deployment_id, part.started_at = rollout.WAITING, None, None
            else:
                part.finish("failed", now, reason)
                uow.publish(CampaignOperatorFailed(**envelope, campaign_id=campaign.id, deployment_id=deployment_id, reason=reason))
                await self._roll_back(campaign, part, uow)
        uow.after_commit(self.wake)

    async def _roll_back(self, campaign: Campaign, part: Part, uow: UnitOfWork) -> None:
        """Back to the last good desired state, exactly as it was applied."""
        states = DesiredStates(uow.session)
        good, tried = await states.applied(part.operator_id), await states.of_deployment(part.deployment_id or "")
        if good is None or tried is None:
            part.finish("rollback_failed", self.clock.now(), f"{part.reason}; nothing good on record to go back to")
            return
        deployment_id = str(uuid.uuid4())
        part.state, part.rollback_deployment_id = "rolling_back", deployment_id
        await states.add(part.operator_id, good.revision, deployment_id, good.resources, good.configuration, good.domain)
        changes = tuple(_relabel(diff(tried.resources, good.resources), "back to the last good configuration"))
        uow.publish(PlanCreated(
            correlation_id=deployment_id, operator_id=part.operator_id, producer=PRODUCER, deployment_id=deployment_id,
            revision=await states.newest_revision(part.operator_id), domain=good.domain or "", resources=tuple(good.resources),
            changes=changes, origin="rollback", campaign_id=campaign.id,
        ))
        log.info("rolling back", campaign_id=campaign.id, operator_id=part.operator_id, deployment_id=deployment_id)

    # -- the scheduler ------------------------------------------------------------------------------

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.warning("campaign tick failed; will retry", exc_info=True)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> int:
        """Moves every running campaign on as far as `now` allows; returns how many moves were made."""
        async with self.units() as uow:
            ids = [campaign.id for campaign in await Campaigns(uow.session).active()]
        moved = 0
        for campaign_id in ids:
            async with self.units() as uow:
                moved += await self._move(campaign_id, uow)
                await uow.commit()
        return moved

    async def _move(self, campaign_id: str, uow: UnitOfWork) -> int:
        campaigns, now = Campaigns(uow.session), self.clock.now()
        campaign = await campaigns.get(campaign_id)
        parts = await campaigns.parts(campaign_id)
        policy = await self.policies.current(uow.session)
        windows = await campaigns.windows()
        window_of: Callable[[str], WeeklyWindow] = lambda operator: windows.get(operator, policy.maintenance.default_window)  # noqa: E731
        by_operator = {part.operator_id: part for part in parts}
        moved = 0
        for move in rollout.decide(campaign, parts, window_of, now, policy.maintenance.reminders_hours):
            moved += await self._apply(move, campaign, by_operator, policy, window_of, uow)
        return moved

    async def _apply(self, move: rollout.Move, campaign: Campaign, parts: dict[str, Part], policy: Policy, window_of, uow) -> int:
        now = self.clock.now()
        envelope = dict(correlation_id=campaign.id, producer=PRODUCER)
        if isinstance(move, rollout.Start):
            return await self._start(campaign, parts[move.operator_id], move.trigger, policy, uow)
        if isinstance(move, rollout.Reschedule):
            part = parts[move.operator_id]
            part.planned_start = move.planned_start
            uow.publish(_notice(campaign, part, window_of(part.operator_id), "rescheduled"))
        elif isinstance(move, rollout.Remind):
            part = parts[move.operator_id]
            part.reminded(move.hours_before)
            uow.publish(_notice(campaign, part, window_of(part.operator_id), "reminder"))
        elif isinstance(move, rollout.OpenWave):
            campaign.open_wave(now)
            members = tuple(sorted(p.operator_id for p in parts.values() if p.wave == move.wave))
            uow.publish(CampaignWaveStarted(**envelope, operator_id=FLEET, campaign_id=campaign.id, wave=move.wave, operators=members))
        elif isinstance(move, rollout.Halt):
            campaign.state = "halted"
            campaign.state_reason = (f"{move.failed} of {move.size} operators failed in wave {move.wave + 1} "
                                     f"(more than {campaign.failure_threshold:.0%} may not)")
            uow.publish(CampaignStateChanged(**envelope, operator_id=FLEET, campaign_id=campaign.id, state="halted", reason=campaign.state_reason))
            log.warning("campaign halted", campaign_id=campaign.id, reason=campaign.state_reason)
        elif isinstance(move, rollout.Finish):
            campaign.state, campaign.state_reason = "completed", "every operator's part is done"
            uow.publish(CampaignStateChanged(**envelope, operator_id=FLEET, campaign_id=campaign.id, state="completed", reason=campaign.state_reason))
        return 1

    async def _start(self, campaign: Campaign, part: Part, trigger: str, policy: Policy, uow: UnitOfWork) -> int:
        """Plans the operator's newest configuration under the policy in force; 0 when it must wait
        for a deployment of theirs still under way."""
        states, now = DesiredStates(uow.session), self.clock.now()
        envelope = dict(correlation_id=campaign.id, operator_id=part.operator_id, producer=PRODUCER)
        latest = await states.latest(part.operator_id)
        if latest is not None and latest.outcome is None:
            return 0
        try:
            if latest is None or latest.configuration is None:
                raise InvalidConfiguration(())
            applied, leftovers = await states.baseline(part.operator_id)
            plan = plan_configuration(part.operator_id, latest.configuration, policy, applied, leftovers)
        except InvalidConfiguration as exc:
            reason = "; ".join(f"{p.field}: {p.message}" for p in exc.problems) or "nothing of theirs is deployed"
            part.finish("unfit", now, reason)
            uow.publish(CampaignOperatorFailed(**envelope, campaign_id=campaign.id, deployment_id=None, reason=reason))
            return 1
        if not plan.effective:
            part.finish("completed", now)
            uow.publish(CampaignOperatorCompleted(**envelope, campaign_id=campaign.id, deployment_id=None, outcome="up_to_date"))
            return 1
        deployment_id = str(uuid.uuid4())
        started = CampaignOperatorStarted(**envelope, campaign_id=campaign.id, deployment_id=deployment_id, wave=part.wave, trigger=trigger)
        uow.publish(started)
        await states.add(part.operator_id, latest.revision, deployment_id, list(plan.resources), latest.configuration, plan.configuration.domain)
        uow.publish(PlanCreated(
            correlation_id=deployment_id, causation_id=str(started.event_id), operator_id=part.operator_id, producer=PRODUCER,
            deployment_id=deployment_id, revision=latest.revision, domain=plan.configuration.domain, resources=plan.resources,
            changes=plan.changes, origin="campaign", campaign_id=campaign.id,
        ))
        part.state, part.deployment_id, part.started_at = rollout.STARTED, deployment_id, now
        log.info("campaign update started", campaign_id=campaign.id, operator_id=part.operator_id, deployment_id=deployment_id, trigger=trigger)
        return 1

    # -- what the provider and the operators see ----------------------------------------------------

    async def status(self, request: CampaignStatusRequest) -> CampaignStatusReply:
        async with self.units() as uow:
            campaigns = Campaigns(uow.session)
            found = [await campaigns.get(request.campaign_id)] if request.campaign_id else await campaigns.all()
            reply = []
            for campaign in filter(None, found):
                parts = await campaigns.parts(campaign.id, request.operator_id) if (request.campaign_id or request.operator_id) else []
                if request.operator_id and not parts:
                    continue
                reply.append(_status(campaign, parts))
        return CampaignStatusReply(campaigns=tuple(reply))


def _check_deferral(campaign: Campaign, until: datetime | None) -> None:
    if until is None:
        raise WindowProblem("a deferral needs the date to defer to")
    if until > campaign.deadline:
        what = "a security update" if campaign.category == "security" else "this update"
        raise WindowProblem(f"{what} cannot be deferred past {campaign.deadline:%Y-%m-%d %H:%M} UTC")


def _notice(campaign: Campaign, part: Part, window: WeeklyWindow, notice: str, causation_id: str | None = None) -> CampaignOperatorNotified:
    return CampaignOperatorNotified(
        correlation_id=campaign.id, causation_id=causation_id, operator_id=part.operator_id, producer=PRODUCER,
        campaign_id=campaign.id, notice=notice, title=campaign.title, reason=campaign.reason, category=campaign.category,
        changes=part.changes, downtime_minutes=part.downtime_minutes, deadline=campaign.deadline, defer_limit=campaign.deadline,
        window=window, planned_start=part.planned_start,
    )


def _relabel(changes: list[Change], reason: str) -> list[Change]:
    return [change.model_copy(update={"reason": reason}) if change.action != "unchanged" else change for change in changes]


def _status(campaign: Campaign, parts: list[Part]) -> CampaignStatus:
    return CampaignStatus(
        campaign_id=campaign.id, title=campaign.title, reason=campaign.reason, category=campaign.category,
        state="paused" if campaign.paused and campaign.state == "running" else campaign.state, state_reason=campaign.state_reason,
        paused=campaign.paused, requested_by=campaign.requested_by, created_at=campaign.created_at,
        earliest_start=campaign.earliest_start, deadline=campaign.deadline, open_waves=len(campaign.wave_opened_at),
        wave_sizes=tuple(campaign.wave_sizes), failure_threshold=campaign.failure_threshold,
        operators=tuple(
            CampaignOperatorStatus(
                operator_id=p.operator_id, wave=p.wave, state=p.state, planned_start=p.planned_start, choice=p.choice,
                deployment_id=p.rollback_deployment_id or p.deployment_id, reason=p.reason, changes=p.changes,
                downtime_minutes=p.downtime_minutes,
            )
            for p in parts
        ),
    )


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)
