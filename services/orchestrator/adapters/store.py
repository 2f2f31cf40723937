"""The orchestrator's database: deployments, their steps, and the actual state of each resource."""

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


class Deployment(Base):
    __tablename__ = "deployments"
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # a concurrent update fails and is retried, never lost

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, succeeded, failed
    plan_event_id: Mapped[str] = mapped_column(String(36))
    traceparent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Step(Base):
    __tablename__ = "steps"
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # a concurrent update fails and is retried, never lost

    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(32))
    spec_json: Mapped[str] = mapped_column(Text)
    depends_on_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending, running, waiting, done, failed
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)

    @property
    def spec(self) -> dict:
        return json.loads(self.spec_json)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(json.loads(self.depends_on_json))

    def finish(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.finished_at = now()
        if self.started_at:
            started = self.started_at if self.started_at.tzinfo else self.started_at.replace(tzinfo=UTC)
            self.duration = (self.finished_at - started).total_seconds()


class ResourceState(Base):
    """What really exists for a resource, across deployments."""

    __tablename__ = "resource_states"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    spec_hash: Mapped[str] = mapped_column(String(64))
    outputs_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    @property
    def outputs(self) -> dict:
        return json.loads(self.outputs_json)


class Store:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def deployment(self, deployment_id: str) -> Deployment | None:
        return await self.session.get(Deployment, deployment_id)

    async def deployments_in(self, *states: str) -> list[Deployment]:
        query = select(Deployment).where(Deployment.state.in_(states)).order_by(Deployment.created_at)
        return list((await self.session.execute(query)).scalars())

    async def steps(self, deployment_id: str) -> list[Step]:
        query = select(Step).where(Step.deployment_id == deployment_id).order_by(Step.position)
        return list((await self.session.execute(query)).scalars())

    async def step(self, deployment_id: str, resource_id: str) -> Step | None:
        return await self.session.get(Step, (deployment_id, resource_id))

    async def resource(self, resource_id: str) -> ResourceState | None:
        return await self.session.get(ResourceState, resource_id)

    async def record_resource(self, resource_id: str, operator_id: str, kind: str, spec_hash: str, outputs: dict) -> None:
        state = await self.resource(resource_id)
        if state is None:
            state = ResourceState(resource_id=resource_id, operator_id=operator_id, kind=kind)
            self.session.add(state)
        state.spec_hash = spec_hash
        state.outputs_json = json.dumps(outputs, sort_keys=True)

    async def outputs_of(self, resource_ids: tuple[str, ...]) -> dict[str, dict]:
        query = select(ResourceState).where(ResourceState.resource_id.in_(resource_ids))
        return {state.resource_id: state.outputs for state in (await self.session.execute(query)).scalars()}

    async def typical_durations(self) -> dict[str, float]:
        """Mean measured duration per step kind, over every finished step."""
        query = select(Step.kind, func.avg(Step.duration)).where(Step.duration.is_not(None)).group_by(Step.kind)
        return {kind: float(avg) for kind, avg in (await self.session.execute(query)).all()}
