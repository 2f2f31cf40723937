"""Walks each running deployment's dependency graph: starts what can start (bounded), records
every transition before and after its side effect, and resumes whatever was in flight after a
restart. Buckets and accounts are commands to other services; VMs and NixOS run here."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import Message
from contracts.commands import AccountRequested, BucketRequested
from runtime import logs
from runtime.uow import UnitsOfWork

from . import progress
from .adapters.store import Deployment, Step, Store
from .domain.graph import ACTIVE, DONE, FAILED, RUNNING, WAITING, runnable
from .handlers import spec_hash

log = logs.get("orchestrator")

@dataclass(frozen=True)
class Work:
    """What a local step needs to know, read before its side effect runs."""

    deployment: Deployment
    step: Step
    inputs: dict[str, dict]
    """Outputs of the resources it depends on, by resource id."""
    current: dict | None
    """What an earlier deployment recorded for this resource, if anything."""


@dataclass(frozen=True)
class Outcome:
    outputs: dict
    detail: str = "done"
    events: tuple[Callable[[dict], Message], ...] = ()
    """Builders of events to publish with the step's completion, given the deployment's envelope."""


Action = Callable[[Work], Awaitable[Outcome]]
"""Does a local step (vm, nixos) idempotently. Errors with `transient = True` are retried."""


class Executor:
    def __init__(
        self,
        units: UnitsOfWork,
        actions: dict[str, Action],
        parallelism: int = 8,
        attempts: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self.units = units
        self.actions = actions
        self.slots = asyncio.Semaphore(parallelism)
        self.attempts = attempts
        self.backoff = backoff
        self.wake_event = asyncio.Event()
        self.in_flight: dict[tuple[str, str], asyncio.Task] = {}

    def wake(self) -> None:
        self.wake_event.set()

    async def run(self) -> None:
        while True:
            self.wake_event.clear()
            try:
                await self.tick()
            except Exception:  # e.g. a concurrent update of the same row: the next tick retries
                log.warning("executor tick failed; retrying", exc_info=True)
                await asyncio.sleep(0.2)
            try:
                await asyncio.wait_for(self.wake_event.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        launch: list[tuple[str, str]] = []
        async with self.units() as uow:
            store = Store(uow.session)
            await self._start_queued(store, uow)
            typical = await store.typical_durations()
            for deployment in await store.deployments_in("running"):
                uow.traceparent = deployment.traceparent
                steps = await store.steps(deployment.id)
                if await self._conclude(deployment, steps, uow):
                    continue
                if any(step.state == FAILED for step in steps):
                    continue  # let what is running finish, start nothing new
                for step in self._resumable(steps) + runnable_steps(steps):
                    if await self._begin(deployment, step, store, uow, typical):
                        launch.append((deployment.id, step.resource_id))
            await uow.commit()
        for key in launch:
            self.in_flight[key] = asyncio.create_task(self._run_local(*key))

    def _resumable(self, steps: list[Step]) -> list[Step]:
        """Local steps marked running in the database but not running here: a restart interrupted them."""
        return [
            step
            for step in steps
            if step.state == RUNNING and (step.deployment_id, step.resource_id) not in self.in_flight
        ]

    async def _start_queued(self, store: Store, uow) -> None:
        busy = {d.operator_id for d in await store.deployments_in("running")}
        for deployment in await store.deployments_in("queued"):
            if deployment.operator_id in busy:
                continue
            busy.add(deployment.operator_id)
            deployment.state = "running"
            deployment.started_at = datetime.now(UTC)
            uow.traceparent = deployment.traceparent
            uow.publish(progress.started(deployment, await store.steps(deployment.id)))
            log.info("deployment started", deployment_id=deployment.id)

    async def _begin(self, deployment, step: Step, store: Store, uow, typical) -> bool:
        """Moves a step forward; True when a local action must run."""
        resuming = step.state == RUNNING
        if not resuming:
            step.started_at = datetime.now(UTC)
        existing = await store.resource(step.resource_id)
        if step.kind != "nixos" and existing and existing.spec_hash == spec_hash(step.spec):
            step.finish(DONE, "unchanged")
        elif step.kind in ("bucket", "account"):
            uow.publish(_command(deployment, step))
            step.state, step.detail = WAITING, f"asked {'storage' if step.kind == 'bucket' else 'identity'}"
        else:
            step.state, step.detail = RUNNING, "resuming after a restart" if resuming else "started"
        uow.publish(progress.progress(deployment, await store.steps(deployment.id), step, typical))
        return step.state == RUNNING

    async def _run_local(self, deployment_id: str, resource_id: str) -> None:
        try:
            async with self.slots:
                outcome = await self._attempt(deployment_id, resource_id)
            async with self.units() as uow:
                store = Store(uow.session)
                deployment = await store.deployment(deployment_id)
                step = await store.step(deployment_id, resource_id)
                uow.traceparent = deployment.traceparent
                if isinstance(outcome, Outcome):
                    await store.record_resource(
                        resource_id, deployment.operator_id, step.kind, spec_hash(step.spec), outcome.outputs
                    )
                    for event in outcome.events:
                        uow.publish(event(progress.envelope(deployment)))
                    step.finish(DONE, outcome.detail)
                else:
                    step.finish(FAILED, outcome)
                typical = await store.typical_durations()
                uow.publish(progress.progress(deployment, await store.steps(deployment_id), step, typical))
                await uow.commit()
        finally:
            self.in_flight.pop((deployment_id, resource_id), None)
            self.wake()

    async def _attempt(self, deployment_id: str, resource_id: str) -> Outcome | str:
        """The step's outcome, or the reason it failed after its attempts."""
        for attempt in range(1, self.attempts + 1):
            async with self.units() as uow:
                store = Store(uow.session)
                step = await store.step(deployment_id, resource_id)
                inputs = await store.outputs_of((*step.depends_on, resource_id))
                current = inputs.pop(resource_id, None)
                work = Work(await store.deployment(deployment_id), step, inputs, current)
            try:
                return await self.actions[step.kind](work)
            except Exception as exc:
                transient = getattr(exc, "transient", False)
                log.warning("step failed", resource_id=resource_id, attempt=attempt, transient=transient, error=str(exc))
                if not transient or attempt == self.attempts:
                    return str(exc) or type(exc).__name__
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _conclude(self, deployment: Deployment, steps: list[Step], uow) -> bool:
        if any(step.state in ACTIVE for step in steps):
            return False
        failed = next((step for step in steps if step.state == FAILED), None)
        if failed is None and not all(step.state == DONE for step in steps):
            return False
        deployment.finished_at = datetime.now(UTC)
        if failed is None:
            deployment.state = "succeeded"
            uow.publish(progress.succeeded(deployment, steps))
        else:
            deployment.state = "failed"
            deployment.reason = f"{failed.resource_id}: {failed.detail}"
            uow.publish(progress.failed(deployment, failed))
        log.info("deployment finished", deployment_id=deployment.id, state=deployment.state)
        return True


def runnable_steps(steps: list[Step]) -> list[Step]:
    ready = {view.id for view in runnable(progress.views(steps))}
    return [step for step in steps if step.resource_id in ready]


def _command(deployment: Deployment, step: Step):
    spec = step.spec
    common = {**progress.envelope(deployment), "deployment_id": deployment.id, "resource_id": step.resource_id}
    if step.kind == "bucket":
        return BucketRequested(
            **common, bucket=spec["name"], quota_bytes=spec.get("quota_bytes"), quota_objects=spec.get("quota_objects")
        )
    return AccountRequested(
        **common,
        service=step.service,
        username=spec["username"],
        email=spec["email"],
        display_name=spec["display_name"],
    )

