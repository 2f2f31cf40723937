"""The configurator's database: every accepted desired state per operator."""

import json
from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.resources import Resource
from runtime.tables import messaging_tables

_resources = TypeAdapter(list[Resource])


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)


class DesiredState(Base):
    __tablename__ = "desired_states"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(64))
    resources_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))

    @property
    def resources(self) -> list[Resource]:
        return _resources.validate_json(self.resources_json)


class DesiredStates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest(self, operator_id: str) -> DesiredState | None:
        query = (
            select(DesiredState)
            .where(DesiredState.operator_id == operator_id)
            .order_by(DesiredState.revision.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, operator_id: str, revision: int, deployment_id: str, resources: list[Resource]) -> None:
        self.session.add(
            DesiredState(
                operator_id=operator_id,
                revision=revision,
                deployment_id=deployment_id,
                resources_json=json.dumps(_resources.dump_python(resources, mode="json"), sort_keys=True),
            )
        )
