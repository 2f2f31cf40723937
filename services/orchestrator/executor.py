"""Walks each running deployment's dependency graph: starts what can start (a global bound on
running steps, per-backend bounds inside the actions), persists every transition before and after
its side effect, and resumes whatever was in flight after a restart. One deployment per operator
runs at a time; the next one queued starts when it ends."""

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from runtime import logs
from runtime.telemetry import Metrics
from runtime.uow import UnitsOfWork

from . import progress
from .actions import Action
from .adapters.store import Deployment, Step, Store, aware, timing_key
from .commands import Refused, asks, command_for
from .crash import NEVER, CrashPoints
from .domain.graph import ACTIVE, DONE, FAILED, RUNNING, WAITING, runnable
from .domain.plan import REMOTE_KINDS
from .handlers import fingerprint
from .limits import Limits
from .retry import BackendErrors, is_transient
from .steps import Outcome, StepContext

log = logs.get("orchestrator")
CONFLICTS = (StaleDataError, OperationalError)
"""A concurrent update of the same row (or a busy database): the work is simply done again."""
DEPLOYMENT_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Executor:
    def __init__(
        self,
        units: UnitsOfWork,
        ensure: dict[str, Action],
        delete: dict[str, Action],
        limits: Limits | None = None,
        attempts: int = 6,
        backoff: float = 1.0,
        backoff_cap: float = 10.0,
        deadline: float = 300.0,
        command_timeout: float = 3600.0,
        report_interval: float = 1.0,
        crash: CrashPoints = NEVER,
        metrics: Metrics | None = None,
    ) -> None:
        self.units = units
        self.ensure_actions = ensure
        self.delete_actions = delete
        self.limits = limits or Limits({})
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.deadline = deadline
        self.command_timeout = command_timeout
        self.report_interval = report_interval
        self.crash = crash
        self.metrics = metrics or Metrics("orchestrator")
        self.errors = BackendErrors(self.metrics)
        self._counted_at = 0.0
        self.wake_event = asyncio.Event()
        self.drivers: dict[str, asyncio.Task] = {}
        self.signals: dict[str, asyncio.Event] = {}
        self.in_flight: dict[tuple[str, str], asyncio.Task] = {}
        self.typical = progress.TypicalDurations()

    def wake(self, deployment_id: str | None = None) -> None:
        """News of a running deployment wakes its driver only; anything else (a plan, news of a
        deployment not driven here yet) wakes admission, as does a driver when its deployment ends."""
        signal = self.signals.get(deployment_id) if deployment_id is not None else None
        if signal is not None:
            signal.set()
        else:
            self.wake_event.set()

    async def run(self) -> None:
        while True:
            self.wake_event.clear()
            try:
                await self._admit()
            except CONFLICTS:
                log.info("admission met a concurrent update; again", exc_info=True)
                await asyncio.sleep(0.1)
            try:
                await asyncio.wait_for(self.wake_event.wait(), timeout=1.0)
            except TimeoutError:
                pass

    # -- admission: one running deployment per operator ---------------------------------------------------

    async def _admit(self) -> None:
        async with self.units() as uow:
            store = Store(uow.session)
            running = await store.deployments_in("running")
            busy = {d.operator_id for d in running}
            for deployment in await store.deployments_in("queued"):
                if deployment.operator_id in busy:
                    continue
                busy.add(deployment.operator_id)
                deployment.state, deployment.started_at = "running", datetime.now(UTC)
                uow.traceparent = deployment.traceparent
                uow.publish(progress.started(deployment, await store.steps(deployment.id)))
                running.append(deployment)
                log.info("deployment started", deployment_id=deployment.id)
            await uow.commit()
            await self._count_deployments(store)
        for deployment in running:
            if deployment.id not in self.drivers:
                self.signals[deployment.id] = asyncio.Event()
                self.drivers[deployment.id] = asyncio.create_task(self._drive(deployment.id), name=f"deployment-{deployment.id}")

    async def _count_deployments(self, store: Store, every: float = 1.0) -> None:
        """The deployments-by-state gauge, from the database (so it holds across restarts)."""
        if time.monotonic() - self._counted_at < every:
            return
        self._counted_at = time.monotonic()
        counts = await store.deployment_counts()
        for state in DEPLOYMENT_STATES:
            self.metrics.deployments.labels(state).set(counts.get(state, 0))

    # -- one deployment ------------------------------------------------------------------------------------

    async def _drive(self, deployment_id: str) -> None:
        signal = self.signals[deployment_id]
        try:
            while True:
                signal.clear()
                try:
                    launch, finished = await self._advance(deployment_id)
                except CONFLICTS:
                    log.info("a step changed meanwhile; looking again", deployment_id=deployment_id)
                    await asyncio.sleep(0.05 + random.random() * 0.1)
                    continue
                if finished:
                    return
                for resource_id in launch:
                    key = (deployment_id, resource_id)
                    self.in_flight[key] = asyncio.create_task(self._run_local(*key))
                try:  # woken by its news; looking again after a while only to time out unanswered commands
                    await asyncio.wait_for(signal.wait(), timeout=min(self.command_timeout / 2, 10.0))
                except TimeoutError:
                    pass
        except Exception:
            log.error("deployment driver failed; it restarts", deployment_id=deployment_id, exc_info=True)
            await asyncio.sleep(1.0)
        finally:
            self.drivers.pop(deployment_id, None)
            self.signals.pop(deployment_id, None)
            self.wake_event.set()

    async def _advance(self, deployment_id: str) -> tuple[list[str], bool]:
        """Starts what can start; returns the local steps to run and whether the deployment ended."""
        launch: list[str] = []
        commanded: list[Step] = []
        async with self.units() as uow:
            store = Store(uow.session)
            deployment = await store.deployment(deployment_id)
            if deployment is None or deployment.state != "running":
                return [], True
            uow.traceparent = deployment.traceparent
            steps = await store.steps(deployment_id)
            states = await store.states_of({s.resource_id for s in steps} | {d for s in steps for d in s.depends_on})
            typical = await self.typical.of(store)
            self._time_out_commands(deployment, steps, uow, typical)
            if self._conclude(deployment, steps, uow):
                await uow.commit()
                return [], True
            launch += [
                s.resource_id for s in steps if s.state == RUNNING and (deployment_id, s.resource_id) not in self.in_flight
            ]
            while not any(s.state == FAILED for s in steps) and (ready := runnable_steps(steps)):
                for step in ready:  # a step done at once (unchanged) may free others: until none is ready
                    started = self._begin(deployment, step, states, uow)
                    if started == RUNNING:
                        launch.append(step.resource_id)
                    elif started == WAITING:
                        commanded.append(step)
                    uow.publish(progress.progress(deployment, steps, step, typical))
            if self._conclude(deployment, steps, uow):
                launch = []
            for step in commanded:
                self.crash("before", f"{step.kind}.{'delete' if step.deleting else 'request'}")
            await uow.commit()
            for step in commanded:
                self.crash("after", f"{step.kind}.{'delete' if step.deleting else 'request'}")
            return launch, deployment.state != "running"

    def _begin(self, deployment: Deployment, step: Step, states: dict, uow) -> str:
        """Moves a pending step forward: done at once, a command sent (waiting), or local work (running)."""
        step.started_at = datetime.now(UTC)
        recorded = states.get(step.resource_id)
        if step.deleting:
            if step.spec_json in ("{}", "null") and recorded is not None:
                step.spec_json = recorded.spec_json
            if step.kind in REMOTE_KINDS:
                return self._command(deployment, step, recorded, uow)
            if step.kind in self.delete_actions:
                step.state, step.detail = RUNNING, "deleting"
                return RUNNING
            step.finish(DONE, "nothing to delete")
            return DONE
        inputs = {rid: states[rid].outputs for rid in step.depends_on if rid in states}
        print_ = fingerprint(step.spec, inputs)
        step.checkpoint_json = json.dumps({**step.checkpoint, "fingerprint": print_})
        if recorded is not None and recorded.state == "ready" and recorded.spec_hash == print_ and step.action != "replace":
            step.finish(DONE, "unchanged")
            return DONE
        if step.kind in REMOTE_KINDS:
            return self._command(deployment, step, recorded, uow)
        if step.kind in self.ensure_actions:
            existed = recorded is not None and recorded.state == "ready"
            step.checkpoint_json = json.dumps({**step.checkpoint, "existed": existed})
            step.state, step.detail = RUNNING, "started"
            return RUNNING
        step.finish(FAILED, f"the orchestrator cannot make resources of kind {step.kind!r}")
        return FAILED

    def _command(self, deployment: Deployment, step: Step, recorded, uow) -> str:
        try:
            command = command_for(deployment, step, recorded.outputs if recorded else None)
        except Refused as refusal:
            step.finish(FAILED, str(refusal))
            return FAILED
        uow.publish(command)
        step.state, step.detail = WAITING, asks(step)
        return WAITING

    def _time_out_commands(self, deployment: Deployment, steps: list[Step], uow, typical) -> None:
        limit = datetime.now(UTC) - timedelta(seconds=self.command_timeout)
        for step in steps:
            if step.state == WAITING and step.started_at and aware(step.started_at) < limit:
                step.finish(FAILED, f"{REMOTE_KINDS[step.kind]} did not answer within {self.command_timeout:.0f}s")
                uow.after_commit(lambda owner=REMOTE_KINDS[step.kind]: self.errors.count(owner, "timeout", transient=False))
                uow.publish(progress.progress(deployment, steps, step, typical))

    def _conclude(self, deployment: Deployment, steps: list[Step], uow) -> bool:
        if deployment.state != "running" or any(step.state in ACTIVE for step in steps):
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
        uow.after_commit(lambda: self._observe_steps(steps))
        return True

    def _observe_steps(self, steps: list[Step]) -> None:
        """Each step's duration, once its deployment has ended (wherever the step finished: here,
        on another service's answer, or before a restart)."""
        for step in steps:
            if step.duration is None or step.state not in (DONE, FAILED):
                continue
            outcome = "failed" if step.state == FAILED else "unchanged" if step.detail == "unchanged" else "done"
            self.metrics.step_seconds.labels(timing_key(step.kind, step.action), outcome).observe(step.duration)
        self._counted_at = 0.0  # the deployments gauge follows at the next admission, not a second later

    # -- a local step ----------------------------------------------------------------------------------------

    async def _run_local(self, deployment_id: str, resource_id: str) -> None:
        try:
            async with self.limits.step():
                outcome = await self._attempt(deployment_id, resource_id)
            await self._retrying(lambda: self._finish(deployment_id, resource_id, outcome))
        except Exception:
            log.error("step runner failed; the step resumes on the next pass", resource_id=resource_id, exc_info=True)
            await asyncio.sleep(1.0)
        finally:
            self.in_flight.pop((deployment_id, resource_id), None)
            self.wake(deployment_id)

    async def _attempt(self, deployment_id: str, resource_id: str) -> Outcome | str:
        """The step's outcome, or why it failed: permanent errors at once, transient ones once the
        attempts or the deadline are used up."""
        began = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            ctx = await self._context(deployment_id, resource_id)
            actions = self.delete_actions if ctx.step.deleting else self.ensure_actions
            try:
                return await actions[ctx.step.kind](ctx)
            except Exception as exc:
                self.errors.record(exc)
                transient = is_transient(exc)
                log.warning("step failed", resource_id=resource_id, attempt=attempt, transient=transient, error=str(exc))
                error = str(exc) or type(exc).__name__
                if not transient:
                    return error
                if attempt == self.attempts or time.monotonic() - began > self.deadline:
                    return kept_failing(error, attempt, time.monotonic() - began)
            await asyncio.sleep(random.uniform(0, min(self.backoff_cap, self.backoff * 2**attempt)))
        raise AssertionError("unreachable")

    async def _context(self, deployment_id: str, resource_id: str) -> StepContext:
        async with self.units() as uow:
            store = Store(uow.session)
            deployment = await store.deployment(deployment_id)
            step = await store.step(deployment_id, resource_id)
            states = await store.states_of((*step.depends_on, resource_id))
            mine = states.pop(resource_id, None)
        return StepContext(
            deployment=deployment,
            step=step,
            inputs={rid: state.outputs for rid, state in states.items()},
            current=mine.outputs if mine else None,
            kinds={rid: state.kind for rid, state in states.items()},
            checkpoint=step.checkpoint,
            persist=lambda checkpoint, partial: self._retrying(lambda: self._persist(deployment, step, checkpoint, partial)),
            crash=self.crash,
            report=lambda line: self._report(deployment_id, resource_id, line),
            report_interval=self.report_interval,
        )

    async def _persist(self, deployment: Deployment, step: Step, checkpoint: dict, partial: dict | None) -> None:
        async with self.units() as uow:
            store = Store(uow.session)
            stored = await store.step(step.deployment_id, step.resource_id)
            stored.checkpoint_json = json.dumps(checkpoint, sort_keys=True)
            if partial is not None:
                existing = await store.resource(step.resource_id)
                merged = {**(existing.outputs if existing else {}), **partial}
                await store.record_resource(stored, deployment.operator_id, "", merged, state="partial")
            await uow.commit()

    async def _report(self, deployment_id: str, resource_id: str, line: str) -> None:
        async with self.units() as uow:
            store = Store(uow.session)
            deployment = await store.deployment(deployment_id)
            uow.traceparent = deployment.traceparent
            steps = await store.steps(deployment_id)
            step = next(s for s in steps if s.resource_id == resource_id)
            uow.publish(progress.progress(deployment, steps, step, await self.typical.of(store), detail=line[:500]))
            await uow.commit()

    async def _finish(self, deployment_id: str, resource_id: str, outcome: Outcome | str) -> None:
        async with self.units() as uow:
            store = Store(uow.session)
            deployment = await store.deployment(deployment_id)
            step = await store.step(deployment_id, resource_id)
            if step.state != RUNNING:
                return
            uow.traceparent = deployment.traceparent
            if isinstance(outcome, Outcome):
                if outcome.kept:
                    await store.record_resource(step, deployment.operator_id, "", outcome.outputs, state="kept")
                elif step.deleting:
                    await store.forget_resource(resource_id)
                    if outcome.swept:
                        await store.forget_resources(deployment.operator_id, outcome.swept)
                else:
                    await store.record_resource(step, deployment.operator_id, step.checkpoint.get("fingerprint", ""), outcome.outputs)
                for event in outcome.events:
                    uow.publish(event(progress.envelope(deployment)))
                step.finish(DONE, outcome.detail)
            else:
                step.finish(FAILED, outcome)
            steps = await store.steps(deployment_id)
            uow.publish(progress.progress(deployment, steps, step, await self.typical.of(store)))
            await uow.commit()

    async def _retrying(self, work, tries: int = 8):
        for attempt in range(tries):
            try:
                return await work()
            except CONFLICTS:
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(0.02 * 2**attempt * (0.5 + random.random()))


def kept_failing(error: str, attempts: int, seconds: float) -> str:
    """Why a step gave up on an error that is usually passing (a lock, a timeout, a 596)."""
    return f"kept failing for {seconds:.0f}s ({attempts} attempt{'s' if attempts != 1 else ''}), so it was given up; the last error: {error}"


def runnable_steps(steps: list[Step]) -> list[Step]:
    ready = {view.id for view in runnable(progress.views(steps))}
    return [step for step in steps if step.resource_id in ready]
