"""The panel's read model of deployments, from the events that tell about them. Events arrive on
separate consumers, so every update tolerates any order: states and counters only move forward."""

import json

from contracts import Message
from contracts.events import (
    ConfigRejected,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
    PlanCreated,
)
from runtime.uow import UnitOfWork

from .adapters.store import DeploymentView

STATE_RANK = {"submitted": 0, "planned": 1, "running": 2, "rejected": 3, "succeeded": 3, "failed": 3}
STEP_RANK = {"pending": 0, "running": 1, "done": 2, "failed": 2}


async def _view(uow: UnitOfWork, event: Message) -> DeploymentView:
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
    if STATE_RANK[state] >= STATE_RANK[view.state] and view.state not in ("succeeded", "failed", "rejected"):
        view.state = state


def _settle(view: DeploymentView) -> None:
    """A succeeded deployment is complete, whatever late events said about counts."""
    if view.state == "succeeded":
        view.done, view.eta_seconds = view.total, 0.0


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
    view.changes_json = json.dumps([c.model_dump() for c in event.changes])
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


HANDLERS = {
    ConfigRejected: config_rejected,
    PlanCreated: plan_created,
    DeploymentStarted: deployment_started,
    DeploymentProgress: deployment_progress,
    DeploymentSucceeded: deployment_succeeded,
    DeploymentFailed: deployment_failed,
}
