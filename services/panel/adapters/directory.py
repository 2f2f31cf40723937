"""The panel's read model of operators' own directories, from identity's events: the connection it
keeps (the parameters, never the bind password) and the report of every sync. Queries are scoped to
one operator."""

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from contracts.directory import DirectoryParameters
from runtime.db import UtcDateTime

from .store import Base

SHOWN_SYNCS = 50


class DirectoryConnection(Base):
    """The newest directory.connected of an operator."""

    __tablename__ = "directory_connections"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parameters_json: Mapped[str] = mapped_column(Text)
    users: Mapped[int] = mapped_column(Integer)
    groups: Mapped[int] = mapped_column(Integer)
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def parameters(self) -> DirectoryParameters:
        return DirectoryParameters.model_validate_json(self.parameters_json)


class DirectorySync(Base):
    """One directory.sync.completed (ok) or directory.sync.failed (problem and reason)."""

    __tablename__ = "directory_syncs"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    trigger: Mapped[str] = mapped_column(String(16))
    """connect, demand or schedule."""
    ok: Mapped[bool] = mapped_column(Boolean)
    users_total: Mapped[int] = mapped_column(Integer, default=0)
    users_added: Mapped[int] = mapped_column(Integer, default=0)
    users_updated: Mapped[int] = mapped_column(Integer, default=0)
    users_removed: Mapped[int] = mapped_column(Integer, default=0)
    memberships_added: Mapped[int] = mapped_column(Integer, default=0)
    memberships_removed: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    problem: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    """Why it failed; for a sync that ran, what it warns of (a mapped group not found), one line each."""


class Directories:
    """One operator's directory connection and sync reports."""

    def __init__(self, session: AsyncSession, operator_id: str) -> None:
        self.session, self.operator_id = session, operator_id

    async def connection(self) -> DirectoryConnection | None:
        return await self.session.get(DirectoryConnection, self.operator_id)

    async def syncs(self, limit: int = SHOWN_SYNCS) -> list[DirectorySync]:
        """Newest first."""
        query = (
            select(DirectorySync).where(DirectorySync.operator_id == self.operator_id)
            .order_by(DirectorySync.occurred_at.desc(), DirectorySync.event_id).limit(limit)
        )
        return list((await self.session.execute(query)).scalars())
