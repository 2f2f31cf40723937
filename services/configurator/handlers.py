"""What the configurator does when a message or a request arrives: load, call the domain, record.

config.submitted            -> plan.created, or config.rejected with field-level reasons
deployment.succeeded        -> that desired state is what exists now (the next diff's baseline)
(hourly)                    -> removal records past their retention are dropped
deployment.failed/cancelled -> that desired state never became what exists
(campaigns: see campaigns/fleet.py)
operator.removal.requested  -> plan.created deleting everything, and a removal record
plan.preview (request)      -> the plan a configuration would get; reads only, writes nothing
"""

import asyncio
import json

from contracts.commands import OperatorRemovalRequested
from contracts.events import ConfigRejected, ConfigSubmitted, DeploymentCancelled, DeploymentFailed, DeploymentSucceeded, PlanCreated
from contracts.requests import PlanPreviewReply, PlanPreviewRequest
from contracts.resources import Problem
from runtime import logs
from runtime.uow import UnitOfWork, UnitsOfWork

from .adapters.store import DesiredStates, RemovalRecord, Removals, now
from .domain.planning import InvalidConfiguration
from .domain.plans import plan_configuration, plan_removal, removed_items, retained_until
from .campaigns.fleet import Fleet
from .policies import Policies

PRODUCER = "configurator"
log = logs.get(PRODUCER)

BEING_REMOVED = Problem(field="operator", message="this account is being removed; nothing more can be deployed for it")


async def plan_submission(event: ConfigSubmitted, uow: UnitOfWork, policies: Policies) -> None:
    states = DesiredStates(uow.session)
    if await states.of_deployment(event.correlation_id) is not None:
        log.info("revision already planned", revision=event.revision)
        return
    try:
        if await Removals(uow.session).pending(event.operator_id):
            raise InvalidConfiguration([BEING_REMOVED])
        applied, leftovers = await states.baseline(event.operator_id)
        policy = await policies.current(uow.session)
        plan = plan_configuration(event.operator_id, event.configuration, policy, applied, leftovers)
    except InvalidConfiguration as exc:
        log.info("configuration rejected", problems=len(exc.problems))
        uow.publish(event.caused(ConfigRejected, PRODUCER, revision=event.revision, problems=exc.problems))
        return
    domain = plan.configuration.domain
    await states.add(event.operator_id, event.revision, event.correlation_id, list(plan.resources), event.configuration, domain)
    uow.publish(
        event.caused(
            PlanCreated,
            PRODUCER,
            deployment_id=event.correlation_id,
            revision=event.revision,
            domain=domain,
            resources=plan.resources,
            changes=plan.changes,
        )
    )
    log.info("plan created", resources=len(plan.resources), changes=len(plan.effective))


async def record_applied(event: DeploymentSucceeded, uow: UnitOfWork, fleet: Fleet) -> None:
    at = now()
    states, removals = DesiredStates(uow.session), Removals(uow.session)
    if await states.mark_applied(event.deployment_id, at):
        log.info("desired state applied", revision=event.revision)
    await fleet.deployment_ended(event.deployment_id, "succeeded", "", uow)
    removal = await removals.get(event.deployment_id)
    if removal is not None and removal.completed_at is None:
        removal.completed_at = at
        removal.keep_until = at + (removal.keep_until - removal.requested_at)  # the retention counts from now
        held = [*await states.held_over_time(removal.operator_id), {"from": at.isoformat(), "revision": event.revision,
                "deployment_id": event.deployment_id, "vms": 0, "cores": 0, "memory_mib": 0, "disk_gib": 0, "buckets": 0}]
        removal.accounting_json = json.dumps(held, sort_keys=True)  # kept for the retention period, like the removal
        await states.forget(removal.operator_id)
        log.info("operator removed", keep_until=removal.keep_until.isoformat())


async def purge_expired_removals(units: UnitsOfWork, every_seconds: float = 3600.0) -> None:
    """Removal records are kept for the policy's retention, then dropped (checked hourly)."""
    while True:
        async with units() as uow:
            if purged := await Removals(uow.session).purge_expired(now()):
                log.info("removal records past their retention dropped", count=purged)
            await uow.commit()
        await asyncio.sleep(every_seconds)


async def record_ended(event: DeploymentFailed | DeploymentCancelled, uow: UnitOfWork, fleet: Fleet) -> None:
    """A deployment that did not succeed leaves the applied state as it was."""
    outcome = "failed" if isinstance(event, DeploymentFailed) else "cancelled"
    await DesiredStates(uow.session).mark_ended(event.deployment_id, outcome)
    removal = await Removals(uow.session).get(event.deployment_id)
    if removal is not None and removal.completed_at is None and removal.failed_at is None:
        removal.failed_at = now()  # not stuck "being removed": the operator can ask again
        log.warning("operator removal did not finish", reason=event.reason)
    await fleet.deployment_ended(event.deployment_id, outcome, event.reason, uow)


async def plan_account_removal(event: OperatorRemovalRequested, uow: UnitOfWork, policies: Policies) -> None:
    removals = Removals(uow.session)
    if await removals.get(event.correlation_id) is not None:
        return
    states = DesiredStates(uow.session)
    applied, leftovers = await states.baseline(event.operator_id)
    latest = await states.latest(event.operator_id)
    plan = plan_removal(event.operator_id, applied, leftovers)
    requested = now()
    removals.add(
        RemovalRecord(
            deployment_id=event.correlation_id,
            operator_id=event.operator_id,
            reason=event.reason,
            removed_json=json.dumps(removed_items(plan), sort_keys=True),
            requested_at=requested,
            keep_until=retained_until(requested, await policies.current(uow.session)),
        )
    )
    uow.publish(
        event.caused(
            PlanCreated,
            PRODUCER,
            deployment_id=event.correlation_id,
            revision=await states.newest_revision(event.operator_id) + 1,
            domain=(latest.domain if latest else None) or "",
            resources=(),
            changes=plan.changes,
            origin="removal",
        )
    )
    log.info("removal planned", deletions=len(plan.changes))


async def preview(request: PlanPreviewRequest, units: UnitsOfWork, policies: Policies) -> PlanPreviewReply:
    async with units() as uow:  # read only: never committed
        try:
            if await Removals(uow.session).pending(request.operator_id):
                raise InvalidConfiguration([BEING_REMOVED])
            applied, leftovers = await DesiredStates(uow.session).baseline(request.operator_id)
            policy = await policies.current(uow.session)
            plan = plan_configuration(request.operator_id, request.configuration, policy, applied, leftovers)
        except InvalidConfiguration as exc:
            return PlanPreviewReply(problems=exc.problems)
    return PlanPreviewReply(resources=plan.resources, changes=plan.changes)
