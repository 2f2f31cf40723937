"""The configurator's database: every accepted desired state per operator (and which of them the
orchestrator applied), and the records of removed operators kept for the policy's retention."""

import json
from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.resources import Resource
from runtime.tables import messaging_tables

_resources = TypeAdapter(list[Resource])


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)


class DesiredState(Base):
    """One plan's desired state. A configuration revision may be planned more than once: again under
    a changed policy (a campaign), or restored after a failed update (a rollback)."""

    __tablename__ = "desired_states"
    __table_args__ = (UniqueConstraint("operator_id", "sequence", name="uq_desired_states_operator_sequence"),)

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    """The order in which the operator's plans were made (1, 2, ...)."""
    resources_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    configuration_json: Mapped[str | None] = mapped_column(Text, default=None)
    domain: Mapped[str | None] = mapped_column(String(253), default=None)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    """When the orchestrator reported its deployment succeeded; None: not (yet) applied."""
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    """How its deployment ended: succeeded, failed or cancelled; None while it runs (or is queued)."""

    @property
    def resources(self) -> list[Resource]:
        return _resources.validate_json(self.resources_json)

    @property
    def configuration(self) -> dict | None:
        return json.loads(self.configuration_json) if self.configuration_json else None


class RemovalRecord(Base):
    """What was removed for an operator and when (US 6.3): kept until `keep_until`."""

    __tablename__ = "removal_records"

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    removed_json: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    """Its deployment failed: the operator may ask again, and the next removal deletes what is left."""
    keep_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    accounting_json: Mapped[str] = mapped_column(Text, default="[]")
    """The accounting record kept with it: what the operator held from when (every applied plan)."""

    @property
    def removed(self) -> list[dict]:
        return json.loads(self.removed_json)

    @property
    def accounting(self) -> list[dict]:
        return json.loads(self.accounting_json)


class DesiredStates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_deployment(self, deployment_id: str) -> DesiredState | None:
        return await self.session.get(DesiredState, deployment_id)

    async def latest(self, operator_id: str) -> DesiredState | None:
        query = select(DesiredState).where(DesiredState.operator_id == operator_id).order_by(DesiredState.sequence.desc()).limit(1)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def applied(self, operator_id: str) -> DesiredState | None:
        """The newest desired state the orchestrator applied: what exists now."""
        query = (
            select(DesiredState)
            .where(DesiredState.operator_id == operator_id, DesiredState.applied_at.is_not(None))
            .order_by(DesiredState.sequence.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def unfinished(self, operator_id: str, after: int) -> list[DesiredState]:
        """Desired states planned after sequence `after` that were never applied, newest first:
        their deployments may have made some of their resources."""
        query = (
            select(DesiredState)
            .where(DesiredState.operator_id == operator_id, DesiredState.sequence > after, DesiredState.applied_at.is_(None))
            .order_by(DesiredState.sequence.desc())
        )
        return list((await self.session.execute(query)).scalars())

    async def baseline(self, operator_id: str) -> tuple[list[Resource], list[Resource]]:
        """(what is applied, what unfinished deployments may have made besides)."""
        applied = await self.applied(operator_id)
        unfinished = await self.unfinished(operator_id, applied.sequence if applied else 0)
        return (applied.resources if applied else []), [r for state in unfinished for r in state.resources]

    async def newest_revision(self, operator_id: str) -> int:
        query = select(func.max(DesiredState.revision)).where(DesiredState.operator_id == operator_id)
        return (await self.session.execute(query)).scalar_one() or 0

    async def applied_per_operator(self) -> list[DesiredState]:
        """Every operator's newest applied desired state."""
        newest = (
            select(DesiredState.operator_id, func.max(DesiredState.sequence).label("sequence"))
            .where(DesiredState.applied_at.is_not(None))
            .group_by(DesiredState.operator_id)
            .subquery()
        )
        query = (
            select(DesiredState)
            .join(newest, (DesiredState.operator_id == newest.c.operator_id) & (DesiredState.sequence == newest.c.sequence))
            .order_by(DesiredState.operator_id)
        )
        return list((await self.session.execute(query)).scalars())

    async def add(
        self,
        operator_id: str,
        revision: int,
        deployment_id: str,
        resources: list[Resource],
        configuration: dict | None = None,
        domain: str | None = None,
    ) -> DesiredState:
        query = select(func.max(DesiredState.sequence)).where(DesiredState.operator_id == operator_id)
        state = DesiredState(
            operator_id=operator_id,
            revision=revision,
            sequence=((await self.session.execute(query)).scalar_one() or 0) + 1,
            deployment_id=deployment_id,
            resources_json=json.dumps(_resources.dump_python(resources, mode="json"), sort_keys=True),
            configuration_json=json.dumps(configuration, sort_keys=True) if configuration is not None else None,
            domain=domain,
        )
        self.session.add(state)
        return state

    async def mark_applied(self, deployment_id: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(DesiredState)
            .where(DesiredState.deployment_id == deployment_id, DesiredState.applied_at.is_(None))
            .values(applied_at=at, outcome="succeeded")
        )
        return result.rowcount > 0

    async def mark_ended(self, deployment_id: str, outcome: str) -> None:
        """A deployment that did not succeed: its desired state is not what exists."""
        await self.session.execute(
            update(DesiredState).where(DesiredState.deployment_id == deployment_id, DesiredState.outcome.is_(None)).values(outcome=outcome)
        )

    async def held_over_time(self, operator_id: str) -> list[dict]:
        """From when the operator held what: one entry per applied plan, oldest first, in the units
        a provider bills (VMs, cores, memory, disk, buckets)."""
        query = (
            select(DesiredState)
            .where(DesiredState.operator_id == operator_id, DesiredState.applied_at.is_not(None))
            .order_by(DesiredState.sequence)
        )
        return [_holding(state) for state in (await self.session.execute(query)).scalars()]

    async def forget(self, operator_id: str) -> None:
        await self.session.execute(delete(DesiredState).where(DesiredState.operator_id == operator_id))


class Removals:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, deployment_id: str) -> RemovalRecord | None:
        return await self.session.get(RemovalRecord, deployment_id)

    async def pending(self, operator_id: str) -> RemovalRecord | None:
        query = select(RemovalRecord).where(
            RemovalRecord.operator_id == operator_id, RemovalRecord.completed_at.is_(None), RemovalRecord.failed_at.is_(None)
        )
        return (await self.session.execute(query)).scalars().first()

    def add(self, record: RemovalRecord) -> None:
        self.session.add(record)

    async def purge_expired(self, at: datetime) -> int:
        """Drops the records whose retention period is over; returns how many."""
        result = await self.session.execute(delete(RemovalRecord).where(RemovalRecord.keep_until < at))
        return result.rowcount


def _holding(state: DesiredState) -> dict:
    vms = [r.spec for r in state.resources if r.kind == "vm"]
    return {
        "from": state.applied_at.isoformat(),
        "revision": state.revision,
        "deployment_id": state.deployment_id,
        "vms": len(vms),
        "cores": sum(vm.cores for vm in vms),
        "memory_mib": sum(vm.memory_mib for vm in vms),
        "disk_gib": sum(vm.disk_gib for vm in vms),
        "buckets": sum(1 for r in state.resources if r.kind == "bucket"),
    }
