"""The panel's database: operators and their API tokens, configuration revisions, and a read
model of deployments built from the orchestrator's events."""

import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.tables import messaging_tables


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Revision(Base):
    __tablename__ = "revisions"

    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    configuration_json: Mapped[str] = mapped_column(Text)
    deployment_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DeploymentView(Base):
    """What the operator sees of one deployment; every field is derived from events."""

    __tablename__ = "deployment_views"
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # a concurrent update fails and is retried, never lost

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    steps_json: Mapped[str] = mapped_column(Text, default="{}")
    changes_json: Mapped[str] = mapped_column(Text, default="[]")
    problems_json: Mapped[str] = mapped_column(Text, default="[]")
    urls_json: Mapped[str] = mapped_column(Text, default="{}")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "revision": self.revision,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "percent": round(100 * self.done / self.total) if self.total else (100 if self.state == "succeeded" else 0),
            "eta_seconds": self.eta_seconds,
            "steps": json.loads(self.steps_json),
            "changes": json.loads(self.changes_json),
            "problems": json.loads(self.problems_json),
            "urls": json.loads(self.urls_json),
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Panel:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def operator_of_token(self, token_hash: str) -> str | None:
        token = await self.session.get(ApiToken, token_hash)
        return token.operator_id if token else None

    async def next_revision(self, operator_id: str) -> int:
        query = select(func.max(Revision.number)).where(Revision.operator_id == operator_id)
        return ((await self.session.execute(query)).scalar() or 0) + 1

    async def deployment(self, operator_id: str, deployment_id: str) -> DeploymentView | None:
        view = await self.session.get(DeploymentView, deployment_id)
        return view if view and view.operator_id == operator_id else None

    async def deployments(self, operator_id: str) -> list[DeploymentView]:
        query = select(DeploymentView).where(DeploymentView.operator_id == operator_id).order_by(DeploymentView.created_at.desc())
        return list((await self.session.execute(query)).scalars())
