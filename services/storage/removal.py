"""storage.removal.requested -> storage.removed: the operator's account is removed (US 6.3), so
everything storage holds for them goes, whether a plan still knows it or not: the buckets it
recorded (in use or kept), and the buckets and keys of theirs it finds on the store by name (left by
an interrupted deployment or deletion), each bucket emptied (objects and unfinished uploads) and
deleted. A bucket the provider assigned stays with the provider, objects included: the assignment
ends and its key loses its rights on the bucket where storage can take them.

What goes is written down before it goes, with what each bucket holds, so a request handled again
after a crash removes nothing twice and reports the same; a later request reports only what is new.
"""

import asyncio
from collections.abc import Callable

from contracts.commands import StorageRemovalRequested
from contracts.events import NotRemoved, ProviderBucket, RemovedBucket, RemovedKey, StorageRemoved
from runtime import logs
from runtime.uow import UnitOfWork

from .adapters.store import AssignedBucket, Assignments, BucketRecord, Buckets, Removals, RemovedItem, end_reading
from .domain import Holdings, Refused, operators_names
from .handlers import PRODUCER, Storage

log = logs.get(PRODUCER)
BUCKET, KEY, ASSIGNED = "bucket", "key", "assigned"


async def remove_operator(command: StorageRemovalRequested, uow: UnitOfWork, storage: Storage) -> None:
    session, operator = uow.session, command.operator_id
    everything, assignments = await Buckets(session).all(), await Assignments(session).all()
    records = [r for r in everything if r.operator_id == operator]
    theirs = [a for a in assignments if a.operator_id == operator]
    items = {(item.kind, item.name): item for item in await Removals(session).of(command.deployment_id)}
    await end_reading(session)
    held = await asyncio.to_thread(storage.backend.holdings, _wanted(operator, everything, assignments))
    spared_keys = {a.access_key_id for a in assignments} | {r.access_key_id for r in everything if r.preconfigured}
    held = Holdings(held.buckets, {key_id: name for key_id, name in held.keys.items() if key_id not in spared_keys})

    for name, usage in held.buckets.items():
        _note(session, items, command, BUCKET, name, objects=usage.objects, bytes=usage.bytes)
    for key_id, name in held.keys.items():
        _note(session, items, command, KEY, key_id, label=name)
    await session.commit()  # written down before anything goes

    problems = await _remove(storage, held)
    for assignment in theirs:
        try:
            revoked = assignment.endpoint == storage.endpoint and await asyncio.to_thread(
                storage.backend.withdraw, assignment.bucket, assignment.access_key_id
            )
        except Refused as exc:
            problems[assignment.bucket] = str(exc)
            continue
        _note(session, items, command, ASSIGNED, assignment.bucket, label=assignment.access_key_id, access_revoked=revoked)
        await _forget_assignment(uow, storage, assignment)
    await _forget_records(uow, storage, [r for r in records if r.bucket not in problems])
    for kind, name in [key for key in items if key[1] in problems]:
        await Removals(session).remove(items.pop((kind, name)))

    report = _report(command, sorted(items.values(), key=lambda item: (item.kind, item.name)), problems)
    log.info("operator's storage removed", buckets=[b.name for b in report.buckets], keys=[k.access_key_id for k in report.keys],
             provider_buckets=[b.name for b in report.provider_buckets], not_removed=sorted(problems))
    uow.publish(report)


def _wanted(operator: str, everything: list[BucketRecord], assignments: list[AssignedBucket]) -> Callable[[str], bool]:
    """The operator's names, never a bucket the provider assigned or another operator's."""
    recorded = {r.bucket for r in everything if r.operator_id == operator and not r.preconfigured}
    spared = {r.bucket for r in everything if r.operator_id != operator or r.preconfigured} | {a.bucket for a in assignments}
    return operators_names(operator, recorded, spared)


def _note(session, items: dict, command: StorageRemovalRequested, kind: str, name: str, **facts) -> None:  # noqa: ANN001
    """Adds what goes to the report, unless an earlier handling of this removal noted it already."""
    if (kind, name) not in items:
        item = RemovedItem(deployment_id=command.deployment_id, kind=kind, name=name, operator_id=command.operator_id, **facts)
        items[kind, name] = item
        Removals(session).add(item)


async def _remove(storage: Storage, held: Holdings) -> dict[str, str]:
    """Empties and deletes each bucket, then deletes each key (most went with their bucket); returns
    what could not be removed, with why. A transient fault propagates: the request is delivered again."""
    problems = {}
    calls = [(name, storage.backend.delete) for name in sorted(held.buckets)]
    calls += [(key_id, storage.backend.delete_key) for key_id in sorted(held.keys)]
    for name, call in calls:
        try:
            await asyncio.to_thread(call, name)
        except Refused as exc:
            problems[name] = str(exc)
    return problems


async def _forget_assignment(uow: UnitOfWork, storage: Storage, assignment: AssignedBucket) -> None:
    await storage.secrets.delete(uow.session, assignment.secret_ref)
    await Assignments(uow.session).remove(assignment)


async def _forget_records(uow: UnitOfWork, storage: Storage, records: list[BucketRecord]) -> None:
    for record in records:
        await storage.secrets.delete(uow.session, record.secret_ref)
        await Buckets(uow.session).remove(record)


def _report(command: StorageRemovalRequested, items: list[RemovedItem], problems: dict[str, str]) -> StorageRemoved:
    return command.caused(
        StorageRemoved,
        PRODUCER,
        deployment_id=command.deployment_id,
        resource_id=command.resource_id,
        buckets=tuple(RemovedBucket(name=i.name, objects=i.objects, bytes=i.bytes) for i in items if i.kind == BUCKET),
        keys=tuple(RemovedKey(access_key_id=i.name, name=i.label) for i in items if i.kind == KEY),
        provider_buckets=tuple(
            ProviderBucket(name=i.name, access_key_id=i.label, access_revoked=bool(i.access_revoked)) for i in items if i.kind == ASSIGNED
        ),
        not_removed=tuple(NotRemoved(name=name, reason=reason) for name, reason in sorted(problems.items())),
    )
