"""The panel's read models, from the events that tell about deployments, admin accounts, storage
use, fleet-wide updates and operators' own directories. Events arrive on separate consumers, so
every update tolerates any order: states and counters only move forward."""

import json

from contracts import Message
from contracts.events import (
    AccountCreated,
    BucketUsageReported,
    ConfigRejected,
    DeploymentCancelled,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
    PlanCreated,
)
from runtime.uow import UnitOfWork

from .adapters.store import BucketUsage, Credential, DeploymentView, aware
from .domain.resource_use import holdings
from .directory_projections import HANDLERS as DIRECTORY_HANDLERS
from .domain.wording import FINAL
from .fleet_projections import HANDLERS as FLEET_HANDLERS

STATE_RANK = {"submitted": 0, "planned": 1, "running": 2} | dict.fromkeys(FINAL, 3)
STEP_RANK = {"pending": 0, "running": 1, "done": 2, "failed": 2}


async def _view(uow: UnitOfWork, event: Message) -> DeploymentView:
    """The deployment's view, which remembers the newest event heard of it (the bus-health page shows it)."""
    view = await _known_view(uow, event)
    if view.last_event_at is None or event.occurred_at >= aware(view.last_event_at):
        view.last_event_type, view.last_event_at = event.type, event.occurred_at
        view.last_event_step = getattr(event, "step", None) or getattr(event, "failed_step", None)
    return view


async def _known_view(uow: UnitOfWork, event: Message) -> DeploymentView:
    view = await uow.session.get(DeploymentView, event.correlation_id)
    if view is None:
        view = DeploymentView(
            id=event.correlation_id,
            operator_id=event.operator_id,
            revision=getattr(event, "revision", 0),
            state="submitted",
            steps_json="{}",
            changes_json="[]",
            problems_json="[]",
            urls_json="{}",
            done=0,
            total=0,
        )
        uow.session.add(view)
    return view


def _advance(view: DeploymentView, state: str) -> None:
    if STATE_RANK[state] >= STATE_RANK[view.state] and view.state not in FINAL:
        view.state = state


def _settle(view: DeploymentView) -> None:
    """A succeeded deployment is complete, whatever late events said about counts: every step is done,
    and a step's own progress event, arriving later on its consumer, still fills in its detail."""
    if view.state == "succeeded":
        view.done, view.eta_seconds = view.total, 0.0
        steps = json.loads(view.steps_json)
        for step in steps.values():
            step["state"] = "done"
        view.steps_json = json.dumps(steps, sort_keys=True)


def _merge_step(view: DeploymentView, step_id: str, **fields) -> None:
    steps = json.loads(view.steps_json)
    current = steps.setdefault(step_id, {"state": "pending", "detail": ""})
    incoming = fields.get("state", current["state"])
    if STEP_RANK[incoming] >= STEP_RANK[current["state"]]:
        current.update(fields)
    else:
        current.update({k: v for k, v in fields.items() if k not in ("state", "detail")})
    view.steps_json = json.dumps(steps, sort_keys=True)


async def config_rejected(event: ConfigRejected, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "rejected")
    view.problems_json = json.dumps([p.model_dump() for p in event.problems])
    view.reason = "the configuration was rejected"


async def plan_created(event: PlanCreated, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "planned")
    for resource in event.resources:
        _merge_step(view, resource.id, kind=resource.kind, service=resource.service)
    for change in event.changes:  # what goes is a step too, shown from the start (a removal has nothing else)
        if change.action == "delete":
            _merge_step(view, change.resource_id, kind=change.kind, service=change.service)
    view.changes_json = json.dumps([c.model_dump() for c in event.changes])
    view.origin, view.campaign_id = event.origin, event.campaign_id
    view.holds_json = json.dumps(holdings(event.resources), sort_keys=True)
    view.total = max(view.total, len(event.resources))
    _settle(view)


async def deployment_started(event: DeploymentStarted, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "running")
    view.total = max(view.total, event.total_steps)
    _settle(view)


async def deployment_progress(event: DeploymentProgress, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "running")
    _merge_step(view, event.step, kind=event.step_kind, state=event.state, detail=event.detail)
    if event.done >= view.done:
        view.done, view.eta_seconds = event.done, event.eta_seconds
    view.total = max(view.total, event.total)
    _settle(view)


async def deployment_succeeded(event: DeploymentSucceeded, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "succeeded")
    view.urls_json = json.dumps(event.urls, sort_keys=True)
    _settle(view)


async def deployment_failed(event: DeploymentFailed, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "failed")
    view.reason = event.reason
    view.eta_seconds = None


async def deployment_cancelled(event: DeploymentCancelled, uow: UnitOfWork) -> None:
    view = await _view(uow, event)
    _advance(view, "cancelled")
    view.reason = event.reason
    view.eta_seconds = None


async def account_created(event: AccountCreated, uow: UnitOfWork) -> None:
    """Remembers the account so its password can be revealed once; a new password (the account was
    made again) may be revealed once more."""
    credential = await uow.session.get(Credential, event.resource_id)
    if credential is None:
        uow.session.add(
            Credential(
                resource_id=event.resource_id,
                operator_id=event.operator_id,
                deployment_id=event.deployment_id,
                service=event.service,
                username=event.username,
                secret_ref=event.secret_ref,
            )
        )
    elif credential.secret_ref != event.secret_ref:
        credential.secret_ref, credential.username = event.secret_ref, event.username
        credential.deployment_id, credential.revealed_at = event.deployment_id, None


async def bucket_usage_reported(event: BucketUsageReported, uow: UnitOfWork) -> None:
    usage = await uow.session.get(BucketUsage, event.bucket)
    if usage is None:
        usage = BucketUsage(bucket=event.bucket, operator_id=event.operator_id, bytes=0, objects=0, reported_at=event.occurred_at)
        uow.session.add(usage)
    elif aware(usage.reported_at) > event.occurred_at:
        return
    usage.bytes, usage.objects, usage.reported_at = event.bytes, event.objects, event.occurred_at


HANDLERS = {
    ConfigRejected: config_rejected,
    PlanCreated: plan_created,
    DeploymentStarted: deployment_started,
    DeploymentProgress: deployment_progress,
    DeploymentSucceeded: deployment_succeeded,
    DeploymentFailed: deployment_failed,
    DeploymentCancelled: deployment_cancelled,
    AccountCreated: account_created,
    BucketUsageReported: bucket_usage_reported,
    **FLEET_HANDLERS,
    **DIRECTORY_HANDLERS,
}
