"""What the orchestrator does when a message arrives. Long work happens in the executor; these
only record facts and wake the deployment they concern."""

import hashlib
import json
from datetime import UTC, datetime

from pydantic import TypeAdapter

from contracts.catalogue import owner_of
from contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountFailed,
    BucketCreated,
    BucketDeleted,
    BucketFailed,
    DeploymentCancelled,
    DirectoryRemoved,
    PlanCreated,
    SshKeyCreated,
    SshKeyDeleted,
    StorageRemoved,
)
from contracts.resources import Resource
from runtime import logs
from runtime.uow import UnitOfWork

from . import progress
from .adapters.store import Deployment, Step, Store
from .domain.graph import DONE, FAILED, PENDING, WAITING
from .domain.plan import planned_steps
from .retry import BackendErrors

PRODUCER = "orchestrator"
log = logs.get(PRODUCER)
_resource = TypeAdapter(Resource)
Typical = progress.TypicalDurations
"""The orchestrator's cache of measured step durations (ETAs), which every handler is given."""


def fingerprint(spec: dict | None, inputs: dict[str, dict] | None = None) -> str:
    """Of a spec and the outputs it is made from: equal fingerprints, nothing to do."""
    document = {"spec": spec, "inputs": inputs or {}}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


async def accept_plan(event: PlanCreated, uow: UnitOfWork, wake) -> None:
    """Queue the plan as a deployment; it starts when the operator has none running. A queued
    deployment that this newer plan supersedes is cancelled, and so is a plan older than one seen."""
    store = Store(uow.session)
    if await store.deployment(event.deployment_id) is not None:
        return
    latest = await store.latest_deployment(event.operator_id)
    deployment = Deployment(
        id=event.deployment_id,
        operator_id=event.operator_id,
        revision=event.revision,
        domain=event.domain,
        state="queued",
        plan_event_id=str(event.event_id),
        traceparent=uow.traceparent,
    )
    uow.session.add(deployment)
    if latest is not None and latest.revision > event.revision:
        _cancel(deployment, f"superseded by revision {latest.revision}, which arrived first", uow, str(event.event_id))
        return
    for queued in await store.deployments_in("queued", operator_id=event.operator_id):
        if queued.id == deployment.id:
            continue
        _cancel(queued, f"superseded by revision {event.revision} before it started", uow, str(event.event_id))
    resources = [_resource.dump_python(r, mode="json") for r in event.resources]
    for position, planned in enumerate(planned_steps(resources, event.changes)):
        uow.session.add(
            Step(
                deployment_id=event.deployment_id,
                resource_id=planned.resource_id,
                position=position,
                kind=planned.kind,
                service=planned.service,
                action=planned.action,
                data=planned.data,
                spec_json=json.dumps(planned.spec or {}, sort_keys=True),
                depends_on_json=json.dumps(list(planned.depends_on)),
                state=PENDING,
                checkpoint_json="{}",
            )
        )
    uow.after_commit(wake)
    log.info("deployment queued", deployment_id=event.deployment_id, resources=len(event.resources))


def _cancel(deployment: Deployment, reason: str, uow: UnitOfWork, causation_id: str) -> None:
    deployment.state, deployment.reason, deployment.finished_at = "cancelled", reason, datetime.now(UTC)
    uow.publish(
        DeploymentCancelled(
            **progress.envelope(deployment, causation_id),
            deployment_id=deployment.id,
            revision=deployment.revision,
            reason=reason,
        )
    )
    log.info("deployment cancelled", deployment_id=deployment.id, reason=reason)


async def record_created(event: BucketCreated | AccountCreated | SshKeyCreated, uow: UnitOfWork, wake, typical: Typical) -> None:
    """Something another service made on our command: remember it, finish its step."""
    store = Store(uow.session)
    step = await _waiting_step(store, event)
    if step is None:
        return
    outputs = event.model_dump(mode="json", include=_OUTPUTS[type(event)])
    await store.record_resource(step, event.operator_id, step.checkpoint.get("fingerprint", ""), outputs)
    step.finish(DONE, "ready")
    await _tell_progress(store, uow, event, step, typical)
    uow.after_commit(lambda: wake(event.deployment_id))


async def record_deleted(event: BucketDeleted | AccountDeleted | SshKeyDeleted, uow: UnitOfWork, wake, typical: Typical) -> None:
    store = Store(uow.session)
    step = await _waiting_step(store, event)
    if step is None:
        return
    await store.forget_resource(step.resource_id)
    detail = "deleted"
    if isinstance(event, BucketDeleted):
        detail = "access revoked, data kept" if event.data_kept else f"deleted with its {event.objects_removed} objects"
    step.finish(DONE, detail)
    await _tell_progress(store, uow, event, step, typical)
    uow.after_commit(lambda: wake(event.deployment_id))


async def record_directory_removed(event: DirectoryRemoved, uow: UnitOfWork, wake, typical: Typical) -> None:
    """Identity removed the operator's directory: the removal's step for it is done, with the report."""
    link = "; the link to their own directory dropped" if event.external_link_removed else ""
    await _finish_waiting(
        event, uow, wake, DONE,
        f"{event.entries_removed} directory entries, {event.accounts_removed} accounts, {event.ssh_keys_removed} SSH keys "
        f"and {event.secrets_removed} secrets removed{link}", typical,
    )


async def record_storage_removed(
    event: StorageRemoved, uow: UnitOfWork, wake, typical: Typical, errors: BackendErrors | None = None
) -> None:
    """Storage removed what it still held for the operator: the removal's step for it is done with
    the report, or failed saying what is still there (trying again removes the rest)."""
    if event.not_removed:
        await _fail(event, uow, wake, typical, errors, "; ".join(f"{left.name} was not removed: {left.reason}" for left in event.not_removed))
        return
    await _finish_waiting(event, uow, wake, DONE, storage_report(event), typical)


def storage_report(event: StorageRemoved) -> str:
    buckets = ", ".join(f"{b.name} ({b.objects} objects, {b.bytes} bytes)" for b in event.buckets)
    removed = [f"buckets {buckets}"] if buckets else []
    removed += [f"{len(event.keys)} access keys"] if event.keys else []
    words = f"removed {' and '.join(removed)}" if removed else "nothing else was left to remove"
    for bucket in event.provider_buckets:
        access = "its key's access revoked" if bucket.access_revoked else f"the provider must revoke key {bucket.access_key_id}"
        words += f"; the provider's bucket {bucket.name} stays with the provider, {access}"
    return words


async def record_given_up(
    command, uow: UnitOfWork, wake, typical: Typical, errors: BackendErrors | None = None, reason: str = ""
) -> None:
    """The service that owns one of our commands gave up on it (parked it as a dead letter): the step
    waiting for its answer fails now, saying why, instead of waiting for the command timeout."""
    owner = owner_of(type(command))
    detail = f"{owner} gave up on it: {reason}. It is kept as a dead letter; once the cause is fixed, retry the deployment"
    await _fail(command, uow, wake, typical, errors, detail, backend=owner, kind="gave_up")


async def record_failed(
    event: BucketFailed | AccountFailed, uow: UnitOfWork, wake, typical: Typical, errors: BackendErrors | None = None
) -> None:
    await _fail(event, uow, wake, typical, errors, event.reason)


async def _fail(
    event, uow: UnitOfWork, wake, typical: Typical, errors: BackendErrors | None, reason: str, backend: str = "", kind: str = "refused",
) -> None:
    """Fails the step the message answers, counted against `backend` (the message's producer unless said)."""
    if await _finish_waiting(event, uow, wake, FAILED, reason, typical) and errors is not None:
        uow.after_commit(lambda: errors.count(backend or event.producer, kind, transient=False))


async def _finish_waiting(event, uow: UnitOfWork, wake, state: str, detail: str, typical: Typical) -> bool:
    """Finishes the step the event answers, if it is waiting for it; tells the panel and wakes the deployment."""
    store = Store(uow.session)
    step = await _waiting_step(store, event)
    if step is None:
        return False
    step.finish(state, detail)
    await _tell_progress(store, uow, event, step, typical)
    uow.after_commit(lambda: wake(event.deployment_id))
    return True


async def _waiting_step(store: Store, event) -> Step | None:
    """The step the message answers: by its resource, or, for the operator's directory (one per
    removal, no resource id), the removal's directory step."""
    resource_id = getattr(event, "resource_id", None)
    if resource_id is None:
        step = next((s for s in await store.steps(event.deployment_id) if s.kind == "directory"), None)
    else:
        step = await store.step(event.deployment_id, resource_id)
    if step is None or step.state != WAITING:
        log.warning("result for a step that is not waiting", resource_id=resource_id, message_type=event.type)
        return None
    return step


async def _tell_progress(store: Store, uow: UnitOfWork, cause, step: Step, typical: Typical) -> None:
    deployment = await store.deployment(cause.deployment_id)
    steps = await store.steps(cause.deployment_id)
    uow.publish(progress.progress(deployment, steps, step, await typical.of(store), causation_id=str(cause.event_id)))


_OUTPUTS = {
    BucketCreated: {"bucket", "endpoint", "region", "access_key_id", "secret_ref"},
    AccountCreated: {"service", "username", "secret_ref"},
    SshKeyCreated: {"public_key", "secret_ref"},
}
