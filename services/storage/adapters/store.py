"""Storage's database: the buckets it made and their keys' secrets (encrypted)."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.secrets import secrets_table
from runtime.tables import messaging_tables


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)
SECRETS = secrets_table(Base.metadata)


class BucketRecord(Base):
    __tablename__ = "buckets"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    bucket: Mapped[str] = mapped_column(String(100), unique=True)
    bucket_id: Mapped[str] = mapped_column(String(64))
    access_key_id: Mapped[str] = mapped_column(String(64))
    secret_ref: Mapped[str] = mapped_column(String(120))
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class Buckets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, resource_id: str) -> BucketRecord | None:
        return await self.session.get(BucketRecord, resource_id)

    def add(self, record: BucketRecord) -> None:
        self.session.add(record)
