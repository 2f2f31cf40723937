"""bucket.requested -> bucket.created / bucket.failed; bucket.deletion.requested -> bucket.deleted / bucket.failed.

Backend calls are blocking (httpx, boto3) and run in a thread. `Unavailable` propagates, so the bus
redelivers the message with backoff; `Refused` is answered with bucket.failed and the reason.
"""

import asyncio
from dataclasses import dataclass

from contracts.commands import BucketDeletionRequested, BucketRequested
from contracts.events import BucketCreated, BucketDeleted, BucketFailed
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitOfWork

from . import assignments
from .adapters.probe import probe_bucket
from .adapters.store import ACTIVE, KEPT, BucketRecord, Buckets, end_reading
from .domain import KEY_READERS, Backend, Refused

PRODUCER = "storage"
log = logs.get(PRODUCER)


@dataclass(frozen=True)
class Storage:
    """What the handlers act through (built in bootstrap)."""

    backend: Backend
    secrets: Secrets
    endpoint: str
    region: str


async def provision_bucket(command: BucketRequested, uow: UnitOfWork, storage: Storage) -> None:
    try:
        record = await _claim(Buckets(uow.session), command.bucket, command.operator_id, command.resource_id)
        if command.preconfigured or await assignments.is_assigned_to(uow.session, command.operator_id, command.bucket):
            record, endpoint, region = await _use_assigned(command, uow, storage, record)
        else:
            record = await _provision(command, uow, storage, record)
            endpoint, region = storage.endpoint, storage.region
    except Refused as exc:
        uow.publish(_failed(command, str(exc)))
        return
    log.info("bucket ready", bucket=record.bucket, access_key_id=record.access_key_id, preconfigured=record.preconfigured)
    uow.publish(
        command.caused(
            BucketCreated,
            PRODUCER,
            deployment_id=command.deployment_id,
            resource_id=command.resource_id,
            bucket=record.bucket,
            endpoint=endpoint,
            region=region,
            access_key_id=record.access_key_id,
            secret_ref=record.secret_ref,
        )
    )


async def _claim(buckets: Buckets, bucket: str, operator_id: str, resource_id: str) -> BucketRecord | None:
    """The record of this resource's bucket, refusing a name that another resource already uses."""
    record = await buckets.named(bucket)
    if record is not None and record.operator_id != operator_id:
        raise Refused(f"bucket {bucket} belongs to another operator")
    if record is not None and record.resource_id != resource_id:
        raise Refused(f"bucket {bucket} is already used by {record.resource_id}")
    return record or await buckets.get(resource_id)


async def _provision(command: BucketRequested, uow: UnitOfWork, storage: Storage, record: BucketRecord | None) -> BucketRecord:
    if record is not None and record.preconfigured:
        raise Refused(f"bucket {command.bucket} is a pre-configured bucket; request it as pre-configured")
    await end_reading(uow.session)
    access = await asyncio.to_thread(
        storage.backend.ensure_bucket, command.bucket, command.quota_bytes, command.quota_objects
    )
    await asyncio.to_thread(
        probe_bucket, storage.endpoint, storage.region, command.bucket, access.access_key_id, access.secret
    )
    if record is not None and record.state == ACTIVE and record.access_key_id == access.access_key_id:
        secret_ref = record.secret_ref  # the same key as before: its secret is already stored
    else:
        if record is not None:
            await storage.secrets.delete(uow.session, record.secret_ref)
        secret_ref = await storage.secrets.put(uow.session, access.secret, KEY_READERS)
    return _recorded(
        uow, record, command, bucket_id=access.bucket_id, access_key_id=access.access_key_id, secret_ref=secret_ref,
        quota_bytes=command.quota_bytes, quota_objects=command.quota_objects, preconfigured=False,
    )


def _recorded(uow: UnitOfWork, record: BucketRecord | None, command: BucketRequested, **fields) -> BucketRecord:
    """The bucket's record, made or updated to `fields`, now in use (state active)."""
    if record is None:
        record = BucketRecord(resource_id=command.resource_id, operator_id=command.operator_id, bucket=command.bucket,
                              state=ACTIVE, **fields)
        Buckets(uow.session).add(record)
        return record
    for name, value in fields.items():
        setattr(record, name, value)
    record.state = ACTIVE
    return record


async def _use_assigned(command: BucketRequested, uow: UnitOfWork, storage: Storage, record: BucketRecord | None):
    """Check the provider's bucket with its key before anything is recorded (US 5.1)."""
    if record is not None and not record.preconfigured:
        raise Refused(f"bucket {command.bucket} was provisioned by storage, not assigned by the provider")
    assigned, secret = await assignments.with_secret(uow.session, storage.secrets, command.operator_id, command.bucket)
    await end_reading(uow.session)
    await asyncio.to_thread(
        probe_bucket, assigned.endpoint, assigned.region, command.bucket, assigned.access_key_id, secret, False
    )
    record = _recorded(
        uow, record, command, bucket_id=None, access_key_id=assigned.access_key_id, secret_ref=assigned.secret_ref,
        quota_bytes=None, quota_objects=None, preconfigured=True,
    )
    return record, assigned.endpoint, assigned.region


async def delete_bucket(command: BucketDeletionRequested, uow: UnitOfWork, storage: Storage) -> None:
    buckets = Buckets(uow.session)
    try:
        record = await _claim(buckets, command.bucket, command.operator_id, command.resource_id)
        if record is not None and record.preconfigured:
            removed = await assignments.release(uow.session, storage.secrets, record, command.keep_data)
        elif command.keep_data:
            removed = await _keep(uow, storage, record)
        else:
            removed = await _remove(uow, storage, command.bucket, record)
    except Refused as exc:
        uow.publish(_failed(command, str(exc)))
        return
    log.info("bucket released", bucket=command.bucket, data_kept=command.keep_data, objects_removed=removed)
    uow.publish(
        command.caused(
            BucketDeleted,
            PRODUCER,
            deployment_id=command.deployment_id,
            resource_id=command.resource_id,
            bucket=command.bucket,
            data_kept=command.keep_data,
            objects_removed=removed,
        )
    )


async def _keep(uow: UnitOfWork, storage: Storage, record: BucketRecord | None) -> int:
    """Revoke the service's key; the bucket and its objects stay for a later re-enable."""
    if record is None:
        return 0
    await end_reading(uow.session)
    await asyncio.to_thread(storage.backend.revoke, record.bucket, record.access_key_id)
    await storage.secrets.delete(uow.session, record.secret_ref)
    record.state = KEPT
    return 0


async def _remove(uow: UnitOfWork, storage: Storage, bucket: str, record: BucketRecord | None) -> int:
    """Empty and delete the bucket and its keys. Without a record the name is still made sure of,
    unless a provider assigned a bucket of that name (never deleted by storage)."""
    if record is None and await assignments.is_assigned(uow.session, bucket):
        return 0
    await end_reading(uow.session)
    removal = await asyncio.to_thread(storage.backend.delete, bucket)
    if record is not None:
        await storage.secrets.delete(uow.session, record.secret_ref)
        await Buckets(uow.session).remove(record)
    log.info("bucket deleted", bucket=bucket, objects=removal.objects, keys=list(removal.keys))
    return removal.objects


def _failed(command: BucketRequested | BucketDeletionRequested, reason: str) -> BucketFailed:
    log.error("bucket failed", bucket=command.bucket, reason=reason)
    return command.caused(
        BucketFailed, PRODUCER, deployment_id=command.deployment_id, resource_id=command.resource_id, reason=reason
    )
