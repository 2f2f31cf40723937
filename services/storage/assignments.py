"""Pre-configured buckets (US 5.1): existing buckets a provider assigns to an operator, with the key
to reach them. Storage never creates or deletes these buckets or their keys: the provider owns them.
Releasing one with "keep" leaves it untouched; with "delete" its objects are removed and the
assignment ends (the provider gets the bucket back empty)."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from runtime import logs
from runtime.secrets import Secrets

from .adapters import s3
from .adapters.probe import probe_bucket
from .adapters.store import KEPT, AssignedBucket, Assignments, BucketRecord, Buckets, end_reading
from .domain import KEY_READERS, Refused

log = logs.get("storage")


async def assign(
    session: AsyncSession,
    secrets: Secrets,
    operator_id: str,
    bucket: str,
    endpoint: str,
    region: str,
    access_key_id: str,
    secret: str,
    verify: bool = True,
) -> AssignedBucket:
    """Record (or re-key) an assignment; with `verify`, only once the key reached the bucket.
    Raises `Refused` saying why (bucket missing, key unknown, wrong secret, taken by another operator)."""
    if verify:
        await asyncio.to_thread(probe_bucket, endpoint, region, bucket, access_key_id, secret, False)
    repository = Assignments(session)
    taken = await repository.of_bucket(endpoint, bucket)
    if taken is not None and taken.operator_id != operator_id:
        raise Refused(f"bucket {bucket} at {endpoint} is already assigned to operator {taken.operator_id}")
    ref = await secrets.put(session, secret, KEY_READERS)
    assignment = await repository.get(operator_id, bucket)
    if assignment is None:
        assignment = AssignedBucket(operator_id=operator_id, bucket=bucket)
        repository.add(assignment)
    else:
        await secrets.delete(session, assignment.secret_ref)
    assignment.endpoint, assignment.region = endpoint, region
    assignment.access_key_id, assignment.secret_ref = access_key_id, ref
    in_use = await Buckets(session).named(bucket)
    if in_use is not None and in_use.preconfigured and in_use.operator_id == operator_id:
        in_use.access_key_id, in_use.secret_ref = access_key_id, ref
    log.info("bucket assigned", operator_id=operator_id, bucket=bucket, endpoint=endpoint, access_key_id=access_key_id)
    return assignment


async def with_secret(session: AsyncSession, secrets: Secrets, operator_id: str, bucket: str) -> tuple[AssignedBucket, str]:
    assigned = await Assignments(session).get(operator_id, bucket)
    if assigned is None:
        raise Refused(
            f"no pre-configured bucket {bucket} is assigned to operator {operator_id}; "
            f"the provider assigns it with `fedi storage assign {operator_id} {bucket} --key-id ...`"
        )
    found = await secrets.get(session, assigned.secret_ref)
    if found is None:
        raise Refused(f"the key of pre-configured bucket {bucket} has no stored secret; the provider must assign it again")
    return assigned, found[0]


async def is_assigned_to(session: AsyncSession, operator_id: str, bucket: str) -> bool:
    """Whether the provider assigned this bucket to the operator: then it is used as pre-configured
    even when requested as an automatic one (it is never created, re-keyed or deleted by storage)."""
    return await Assignments(session).get(operator_id, bucket) is not None


async def is_assigned(session: AsyncSession, bucket: str) -> bool:
    return any(a.bucket == bucket for a in await Assignments(session).all())


async def release(session: AsyncSession, secrets: Secrets, record: BucketRecord, keep_data: bool) -> int:
    """The operator stops using a pre-configured bucket; returns how many objects were removed."""
    if keep_data:
        record.state = KEPT
        return 0
    removed = 0
    assignment = await Assignments(session).get(record.operator_id, record.bucket)
    if assignment is not None:
        assigned, secret = await with_secret(session, secrets, record.operator_id, record.bucket)
        await end_reading(session)
        client = s3.client(assigned.endpoint, assigned.region, assigned.access_key_id, secret)
        removed = await asyncio.to_thread(s3.empty, client, record.bucket)
        await secrets.delete(session, assignment.secret_ref)
        await Assignments(session).remove(assignment)
    await Buckets(session).remove(record)
    return removed


async def unassign(session: AsyncSession, secrets: Secrets, operator_id: str, bucket: str) -> bool:
    assignment = await Assignments(session).get(operator_id, bucket)
    if assignment is None:
        return False
    in_use = await Buckets(session).named(bucket)
    if in_use is not None and in_use.preconfigured and in_use.state != KEPT:
        raise Refused(f"bucket {bucket} is in use by {in_use.resource_id}; disable that service first")
    await secrets.delete(session, assignment.secret_ref)
    await Assignments(session).remove(assignment)
    return True
