"""Storage's database: the buckets it provisioned (and their state), the buckets providers assigned
to operators, the keys' secrets (encrypted), and what each operator's removal took away."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.secrets import secrets_table
from runtime.tables import messaging_tables


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)
SECRETS = secrets_table(Base.metadata)

ACTIVE = "active"
"""The bucket's service holds a key on it."""
KEPT = "kept"
"""The service was disabled with "keep": its key is revoked, the bucket and its objects remain."""


def _now() -> datetime:
    return datetime.now(UTC)


class BucketRecord(Base):
    """A bucket a deployment uses, by the plan's resource id."""

    __tablename__ = "buckets"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    bucket: Mapped[str] = mapped_column(String(100), unique=True)
    bucket_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    access_key_id: Mapped[str] = mapped_column(String(64))
    secret_ref: Mapped[str] = mapped_column(String(120))
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quota_objects: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    preconfigured: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=_now, onupdate=_now)


class AssignedBucket(Base):
    """An existing bucket a provider assigned to an operator (US 5.1), with the key to reach it."""

    __tablename__ = "assigned_buckets"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(100), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(300))
    region: Mapped[str] = mapped_column(String(64))
    access_key_id: Mapped[str] = mapped_column(String(128))
    secret_ref: Mapped[str] = mapped_column(String(120))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RemovedItem(Base):
    """One thing an operator's removal took away (a bucket, with what it held just before; a key) or
    handed back (a provider's bucket), kept so that a repeated request reports the same."""

    __tablename__ = "removed_items"

    deployment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    """bucket, key or assigned."""
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The bucket's name, or the key's id."""
    operator_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    """A key's name; an assigned bucket's key id."""
    objects: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    access_revoked: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Buckets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, resource_id: str) -> BucketRecord | None:
        return await self.session.get(BucketRecord, resource_id)

    async def named(self, bucket: str) -> BucketRecord | None:
        return (await self.session.execute(select(BucketRecord).where(BucketRecord.bucket == bucket))).scalar_one_or_none()

    async def all(self) -> list[BucketRecord]:
        return list((await self.session.execute(select(BucketRecord).order_by(BucketRecord.bucket))).scalars())

    def add(self, record: BucketRecord) -> None:
        self.session.add(record)

    async def remove(self, record: BucketRecord) -> None:
        await self.session.delete(record)


class Assignments:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, operator_id: str, bucket: str) -> AssignedBucket | None:
        return await self.session.get(AssignedBucket, (operator_id, bucket))

    async def of_bucket(self, endpoint: str, bucket: str) -> AssignedBucket | None:
        query = select(AssignedBucket).where(AssignedBucket.endpoint == endpoint, AssignedBucket.bucket == bucket)
        return (await self.session.execute(query)).scalars().first()

    async def all(self, operator_id: str | None = None) -> list[AssignedBucket]:
        query = select(AssignedBucket).order_by(AssignedBucket.operator_id, AssignedBucket.bucket)
        if operator_id is not None:
            query = query.where(AssignedBucket.operator_id == operator_id)
        return list((await self.session.execute(query)).scalars())

    def add(self, assignment: AssignedBucket) -> None:
        self.session.add(assignment)

    async def remove(self, assignment: AssignedBucket) -> None:
        await self.session.delete(assignment)


class Removals:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, deployment_id: str) -> list[RemovedItem]:
        query = select(RemovedItem).where(RemovedItem.deployment_id == deployment_id).order_by(RemovedItem.kind, RemovedItem.name)
        return list((await self.session.execute(query)).scalars())

    def add(self, item: RemovedItem) -> None:
        self.session.add(item)

    async def remove(self, item: RemovedItem) -> None:
        await self.session.delete(item)


async def end_reading(session: AsyncSession) -> None:
    """Ends a transaction that has only read, before slow S3 or Garage calls: on SQLite every
    transaction holds the database's write lock, which secret.get and the other handlers wait for."""
    await session.commit()
