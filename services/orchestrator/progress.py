"""Events the orchestrator tells about a deployment, built from its stored state."""

import time
from datetime import UTC, datetime

from contracts.events import (
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
)

from .adapters.store import Deployment, Step, Store, aware, timing_key
from .domain.graph import ACTIVE, DONE, StepView, remaining_seconds

PRODUCER = "orchestrator"
FIRST_GUESS = {"vm": 60.0, "vm-delete": 30.0, "nixos": 120.0, "dns": 1.0, "dns-delete": 1.0, "nixos-delete": 0.1}
"""Seconds a kind of step takes before any was measured (commands to other services: 2 s)."""


class TypicalDurations:
    """Mean measured step durations, for ETAs: read from the database at most every `every` seconds
    (one reader at a time; the others use the figures read last)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._read_at = float("-inf")
        self._figures: dict[str, float] = {}

    async def of(self, store: Store) -> dict[str, float]:
        if time.monotonic() - self._read_at > self.every:
            self._read_at = time.monotonic()
            self._figures = await store.typical_durations()
        return self._figures


def envelope(deployment: Deployment, causation_id: str | None = None) -> dict:
    return {
        "correlation_id": deployment.id,
        "causation_id": causation_id or deployment.plan_event_id,
        "operator_id": deployment.operator_id,
        "producer": PRODUCER,
    }


def views(steps: list[Step]) -> list[StepView]:
    now = datetime.now(UTC)
    return [
        StepView(
            id=step.resource_id,
            kind=timing_key(step.kind, step.action),
            state=step.state,
            depends_on=step.depends_on,
            elapsed=(now - _aware(step.started_at)).total_seconds() if step.started_at and step.state in ACTIVE else 0.0,
        )
        for step in steps
    ]


def _aware(moment: datetime) -> datetime:
    return aware(moment)


def estimate(steps: list[Step], typical: dict[str, float]) -> float | None:
    guesses = {timing_key(s.kind, s.action): FIRST_GUESS.get(timing_key(s.kind, s.action), 2.0) for s in steps}
    return remaining_seconds(views(steps), guesses | typical)


def started(deployment: Deployment, steps: list[Step]) -> DeploymentStarted:
    return DeploymentStarted(**envelope(deployment), deployment_id=deployment.id, revision=deployment.revision, total_steps=len(steps))


def progress(
    deployment: Deployment,
    steps: list[Step],
    step: Step,
    typical: dict[str, float],
    causation_id: str | None = None,
    detail: str | None = None,
) -> DeploymentProgress:
    return DeploymentProgress(
        **envelope(deployment, causation_id),
        deployment_id=deployment.id,
        step=step.resource_id,
        step_kind=step.kind,
        state=step.state if step.state != "waiting" else "running",
        done=sum(1 for s in steps if s.state == DONE),
        total=len(steps),
        eta_seconds=estimate(steps, typical),
        detail=step.detail if detail is None else detail,
    )


def succeeded(deployment: Deployment, steps: list[Step]) -> DeploymentSucceeded:
    services = sorted({step.service for step in steps if step.kind == "nixos" and not step.deleting})
    return DeploymentSucceeded(
        **envelope(deployment),
        deployment_id=deployment.id,
        revision=deployment.revision,
        duration_seconds=(_aware(deployment.finished_at) - _aware(deployment.started_at)).total_seconds(),
        urls={service: f"https://{service}.{deployment.domain}" for service in services},
    )


def failed(deployment: Deployment, step: Step | None) -> DeploymentFailed:
    return DeploymentFailed(
        **envelope(deployment),
        deployment_id=deployment.id,
        revision=deployment.revision,
        failed_step=step.resource_id if step else None,
        reason=deployment.reason or "unknown",
    )
