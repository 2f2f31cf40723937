"""What the orchestrator does when a message arrives. Long work happens in the executor; these
only record facts and queue the next step."""

import hashlib
import json

from pydantic import TypeAdapter

from contracts.events import AccountCreated, AccountFailed, BucketCreated, BucketFailed, PlanCreated
from contracts.resources import Resource
from runtime import logs
from runtime.uow import UnitOfWork

from . import progress
from .adapters.store import Deployment, Step, Store
from .domain.graph import DONE, FAILED, PENDING, WAITING

PRODUCER = "orchestrator"
log = logs.get(PRODUCER)
_resource = TypeAdapter(Resource)


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


async def accept_plan(event: PlanCreated, uow: UnitOfWork, wake) -> None:
    """Queue the plan as a deployment; the executor starts it when the operator has none running."""
    store = Store(uow.session)
    if await store.deployment(event.deployment_id) is not None:
        return
    uow.session.add(
        Deployment(
            id=event.deployment_id,
            operator_id=event.operator_id,
            revision=event.revision,
            domain=event.domain,
            state="queued",
            plan_event_id=str(event.event_id),
            traceparent=uow.traceparent,
        )
    )
    for position, resource in enumerate(event.resources):
        uow.session.add(
            Step(
                deployment_id=event.deployment_id,
                resource_id=resource.id,
                position=position,
                kind=resource.kind,
                service=resource.service,
                spec_json=json.dumps(_resource.dump_python(resource, mode="json")["spec"], sort_keys=True),
                depends_on_json=json.dumps(list(resource.depends_on)),
                state=PENDING,
            )
        )
    uow.after_commit(wake)
    log.info("deployment queued", deployment_id=event.deployment_id, steps=len(event.resources))


async def record_created(event: BucketCreated | AccountCreated, uow: UnitOfWork, wake) -> None:
    """A bucket or account another service made: remember it, finish its step."""
    store = Store(uow.session)
    step = await store.step(event.deployment_id, event.resource_id)
    if step is None or step.state != WAITING:
        log.warning("result for a step that is not waiting", resource_id=event.resource_id)
        return
    outputs = event.model_dump(mode="json", include=_OUTPUTS[type(event)])
    await store.record_resource(step.resource_id, event.operator_id, step.kind, spec_hash(step.spec), outputs)
    step.finish(DONE, "ready")
    await _tell_progress(store, uow, event, step)
    uow.after_commit(wake)


async def record_failed(event: BucketFailed | AccountFailed, uow: UnitOfWork, wake) -> None:
    store = Store(uow.session)
    step = await store.step(event.deployment_id, event.resource_id)
    if step is None or step.state != WAITING:
        return
    step.finish(FAILED, event.reason)
    await _tell_progress(store, uow, event, step)
    uow.after_commit(wake)


async def _tell_progress(store: Store, uow: UnitOfWork, cause, step: Step) -> None:
    deployment = await store.deployment(cause.deployment_id)
    steps = await store.steps(cause.deployment_id)
    typical = await store.typical_durations()
    uow.publish(progress.progress(deployment, steps, step, typical, causation_id=str(cause.event_id)))


_OUTPUTS = {
    BucketCreated: {"bucket", "endpoint", "region", "access_key_id", "secret_ref"},
    AccountCreated: {"username", "secret_ref"},
}
