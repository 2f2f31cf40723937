"""The orchestrator's database: deployments, their steps (with what each step has already done to
its backend), and the actual state of each resource across deployments."""

import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.tables import messaging_tables


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, succeeded, failed, cancelled
    plan_event_id: Mapped[str] = mapped_column(String(36))
    traceparent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)


class Step(Base):
    __tablename__ = "steps"
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # a concurrent update fails and is retried, never lost

    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16), default="create")  # create, update, replace, delete, unchanged
    data: Mapped[str | None] = mapped_column(String(8), nullable=True)  # keep / delete, for a deleted bucket
    spec_json: Mapped[str] = mapped_column(Text)
    depends_on_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending, running, waiting, done, failed
    detail: Mapped[str] = mapped_column(Text, default="")
    checkpoint_json: Mapped[str] = mapped_column(Text, default="{}")
    """What the step's side effects have done so far (written before and after each one)."""
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)

    @property
    def spec(self) -> dict:
        return json.loads(self.spec_json)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(json.loads(self.depends_on_json))

    @property
    def checkpoint(self) -> dict:
        return json.loads(self.checkpoint_json or "{}")

    @property
    def deleting(self) -> bool:
        return self.action == "delete"

    def finish(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.finished_at = now()
        if self.started_at:
            self.duration = (self.finished_at - aware(self.started_at)).total_seconds()


class ResourceState(Base):
    """What really exists for a resource, across deployments. `state` is `partial` while a
    deployment is still making it (what exists so far is in the outputs), `ready` once made."""

    __tablename__ = "resource_states"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(32), default="")
    spec_hash: Mapped[str] = mapped_column(String(64))
    """Fingerprint of the spec and the inputs it was made from; equal means nothing to do."""
    spec_json: Mapped[str] = mapped_column(Text, default="{}")
    outputs_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    deployment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    @property
    def outputs(self) -> dict:
        return json.loads(self.outputs_json)

    @property
    def spec(self) -> dict:
        return json.loads(self.spec_json or "{}")

    def as_dict(self) -> dict:
        return {
            "resource_id": self.resource_id,
            "operator_id": self.operator_id,
            "kind": self.kind,
            "service": self.service,
            "state": self.state,
            "spec": self.spec,
            "outputs": self.outputs,
            "deployment_id": self.deployment_id,
            "updated_at": aware(self.updated_at).isoformat() if self.updated_at else None,
        }


class Store:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def deployment(self, deployment_id: str) -> Deployment | None:
        return await self.session.get(Deployment, deployment_id)

    async def deployments_in(self, *states: str, operator_id: str | None = None) -> list[Deployment]:
        query = select(Deployment).where(Deployment.state.in_(states)).order_by(Deployment.created_at)
        if operator_id is not None:
            query = query.where(Deployment.operator_id == operator_id)
        return list((await self.session.execute(query)).scalars())

    async def deployment_counts(self) -> dict[str, int]:
        """How many deployments are in each state."""
        query = select(Deployment.state, func.count()).group_by(Deployment.state)
        return {state: count for state, count in (await self.session.execute(query)).all()}

    async def latest_deployment(self, operator_id: str) -> Deployment | None:
        query = (
            select(Deployment)
            .where(Deployment.operator_id == operator_id)
            .order_by(Deployment.revision.desc(), Deployment.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalars().first()

    async def steps(self, deployment_id: str) -> list[Step]:
        query = select(Step).where(Step.deployment_id == deployment_id).order_by(Step.position)
        return list((await self.session.execute(query)).scalars())

    async def step(self, deployment_id: str, resource_id: str) -> Step | None:
        return await self.session.get(Step, (deployment_id, resource_id))

    async def resource(self, resource_id: str) -> ResourceState | None:
        return await self.session.get(ResourceState, resource_id)

    async def resources(self, operator_id: str | None = None) -> list[ResourceState]:
        """Every resource the orchestrator knows exists (for one operator, or all)."""
        query = select(ResourceState).order_by(ResourceState.resource_id)
        if operator_id is not None:
            query = query.where(ResourceState.operator_id == operator_id)
        return list((await self.session.execute(query)).scalars())

    async def record_resource(
        self,
        step: Step,
        operator_id: str,
        fingerprint: str,
        outputs: dict,
        state: str = "ready",
    ) -> None:
        resource = await self.resource(step.resource_id)
        if resource is None:
            resource = ResourceState(resource_id=step.resource_id, operator_id=operator_id)
            self.session.add(resource)
        resource.kind, resource.service = step.kind, step.service
        resource.spec_hash, resource.spec_json = fingerprint, step.spec_json
        resource.outputs_json = json.dumps(outputs, sort_keys=True)
        resource.state, resource.deployment_id = state, step.deployment_id

    async def forget_resource(self, resource_id: str) -> None:
        await self.session.execute(delete(ResourceState).where(ResourceState.resource_id == resource_id))

    async def forget_resources(self, operator_id: str, kind: str) -> None:
        """Every record of the operator's resources of that kind."""
        await self.session.execute(delete(ResourceState).where(ResourceState.operator_id == operator_id, ResourceState.kind == kind))

    async def states_of(self, resource_ids) -> dict[str, ResourceState]:
        query = select(ResourceState).where(ResourceState.resource_id.in_(list(resource_ids)))
        return {state.resource_id: state for state in (await self.session.execute(query)).scalars()}

    async def outputs_of(self, resource_ids) -> dict[str, dict]:
        return {rid: state.outputs for rid, state in (await self.states_of(resource_ids)).items()}

    async def typical_durations(self) -> dict[str, float]:
        """Mean measured duration per step kind (`vm`, `vm-delete`, ...), over recent steps that did work."""
        recent = (
            select(Step.kind, Step.action, Step.duration)
            .where(Step.duration.is_not(None), Step.state == "done", Step.detail != "unchanged")
            .order_by(Step.finished_at.desc())
            .limit(2000)
            .subquery()
        )
        query = select(recent.c.kind, recent.c.action, func.avg(recent.c.duration)).group_by(recent.c.kind, recent.c.action)
        sums: dict[str, list[float]] = {}
        for kind, action, avg in (await self.session.execute(query)).all():
            sums.setdefault(timing_key(kind, action), []).append(float(avg))
        return {key: sum(values) / len(values) for key, values in sums.items()}


def timing_key(kind: str, action: str) -> str:
    return f"{kind}-delete" if action == "delete" else kind
