"""bucket.requested -> bucket.created / bucket.failed."""

import asyncio

from contracts.commands import BucketRequested
from contracts.events import BucketCreated, BucketFailed
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitOfWork

from .adapters.garage import GarageAdmin, GarageError
from .adapters.probe import ProbeFailed, probe_bucket
from .adapters.store import BucketRecord, Buckets
from .provisioning import ensure_bucket

PRODUCER = "storage"
KEY_READERS = ("orchestrator",)
log = logs.get(PRODUCER)


async def provision_bucket(
    command: BucketRequested, uow: UnitOfWork, admin: GarageAdmin, secrets_store: Secrets, endpoint: str, region: str
) -> None:
    buckets = Buckets(uow.session)
    record = await buckets.get(command.resource_id)
    if record is None:
        try:
            record = await _create(command, uow, admin, secrets_store, endpoint, region)
        except GarageError as exc:
            if exc.transient:
                raise  # redelivered with backoff
            uow.publish(_failed(command, f"Garage refused: {exc}"))
            return
        except ProbeFailed as exc:
            uow.publish(_failed(command, str(exc)))
            return
        buckets.add(record)
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


async def _create(command, uow, admin, secrets_store, endpoint, region) -> BucketRecord:
    access = await asyncio.to_thread(
        ensure_bucket, admin, command.bucket, command.quota_bytes, command.quota_objects
    )
    await asyncio.to_thread(probe_bucket, endpoint, region, command.bucket, access.access_key_id, access.secret)
    log.info("bucket ready", bucket=command.bucket, access_key_id=access.access_key_id)
    return BucketRecord(
        resource_id=command.resource_id,
        operator_id=command.operator_id,
        bucket=command.bucket,
        bucket_id=access.bucket_id,
        access_key_id=access.access_key_id,
        secret_ref=await secrets_store.put(uow.session, access.secret, KEY_READERS),
        quota_bytes=command.quota_bytes,
    )


def _failed(command: BucketRequested, reason: str) -> BucketFailed:
    log.error("bucket failed", bucket=command.bucket, reason=reason)
    return command.caused(
        BucketFailed, PRODUCER, deployment_id=command.deployment_id, resource_id=command.resource_id, reason=reason
    )
