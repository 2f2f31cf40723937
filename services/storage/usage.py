"""Every so often, how much each bucket holds: one bucket.usage.reported per bucket (storage -> panel).

Garage's own counters (GetBucketInfo) for storage's buckets; a listing through the assigned key for
pre-configured ones. Kept buckets are reported too: their data still takes room at the provider.
"""

import asyncio
from dataclasses import dataclass, field
from uuid import uuid4

from contracts.events import BucketUsageReported
from runtime import logs
from runtime.uow import UnitsOfWork

from . import assignments
from .adapters import s3
from .adapters.store import Buckets
from .domain import Refused, Unavailable, Usage
from .handlers import PRODUCER, Storage

log = logs.get(PRODUCER)


@dataclass(frozen=True)
class _Bucket:
    operator_id: str
    name: str
    assigned: tuple[str, str, str, str] | None = field(default=None, repr=False)  # endpoint, region, key id, secret


async def report_usage(units: UnitsOfWork, storage: Storage) -> int:
    """One round: reads what to measure, measures without holding the database, publishes."""
    buckets = await _buckets(units, storage)
    measured = []
    for bucket in buckets:
        try:
            usage = await asyncio.to_thread(_measure, storage, bucket)
        except (Refused, Unavailable) as exc:
            log.warning("bucket usage not measured", bucket=bucket.name, reason=str(exc))
            continue
        if usage is not None:
            measured.append((bucket, usage))
    correlation_id = f"usage-{uuid4()}"
    async with units() as uow:
        for bucket, usage in measured:
            uow.publish(
                BucketUsageReported(
                    correlation_id=correlation_id,
                    operator_id=bucket.operator_id,
                    producer=PRODUCER,
                    bucket=bucket.name,
                    bytes=usage.bytes,
                    objects=usage.objects,
                    quota_bytes=usage.quota_bytes,
                    quota_objects=usage.quota_objects,
                )
            )
        await uow.commit()
    return len(measured)


async def report_usage_forever(units: UnitsOfWork, storage: Storage, interval: float) -> None:
    while True:
        try:
            await report_usage(units, storage)
        except Exception:  # a bad round must not end the service: the next one tries again
            log.warning("usage round failed", exc_info=True)
        await asyncio.sleep(interval)


async def _buckets(units: UnitsOfWork, storage: Storage) -> list[_Bucket]:
    async with units.database.session() as session:
        out = []
        for record in await Buckets(session).all():
            assigned = None
            if record.preconfigured:
                try:
                    found, secret = await assignments.with_secret(session, storage.secrets, record.operator_id, record.bucket)
                except Refused:
                    continue
                assigned = (found.endpoint, found.region, found.access_key_id, secret)
            out.append(_Bucket(record.operator_id, record.bucket, assigned))
        return out


def _measure(storage: Storage, bucket: _Bucket) -> Usage | None:
    if bucket.assigned is None:
        return storage.backend.usage(bucket.name)
    with s3.translated(f"counting bucket {bucket.name}"):
        return s3.usage_by_listing(s3.client(*bucket.assigned), bucket.name)
