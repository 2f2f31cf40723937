"""Campaigns, each operator's part in them, and operators' maintenance windows."""

import json
from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from contracts.fleet import WeeklyWindow
from runtime.db import UtcDateTime

from ..adapters.store import Base


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(254))
    policy_changes_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    earliest_start: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    soak_minutes: Mapped[int] = mapped_column(Integer)
    failure_threshold: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), index=True)
    """running, halted, cancelled or completed."""
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    wave_sizes_json: Mapped[str] = mapped_column(Text)
    wave_opened_json: Mapped[str] = mapped_column(Text, default="[]")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # two schedulers never both move one campaign

    @property
    def policy_changes(self) -> dict:
        return json.loads(self.policy_changes_json)

    @property
    def wave_sizes(self) -> list[int]:
        return json.loads(self.wave_sizes_json)

    @property
    def wave_opened_at(self) -> list[datetime]:
        return [datetime.fromisoformat(moment) for moment in json.loads(self.wave_opened_json)]

    def open_wave(self, at: datetime) -> None:
        self.wave_opened_json = json.dumps([*json.loads(self.wave_opened_json), at.isoformat()])


class Part(Base):
    """One operator's part in a campaign."""

    __tablename__ = "campaign_parts"

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    """waiting, started, completed, failed, rolling_back, rolled_back, rollback_failed, unfit or cancelled."""
    changes_json: Mapped[str] = mapped_column(Text)
    downtime_minutes: Mapped[int] = mapped_column(Integer)
    choice: Mapped[str | None] = mapped_column(String(16), default=None)
    chosen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    defer_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    planned_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    reminders_json: Mapped[str] = mapped_column(Text, default="[]")
    deployment_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    rollback_deployment_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def changes(self) -> tuple[str, ...]:
        return tuple(json.loads(self.changes_json))

    @property
    def reminders_sent(self) -> list[int]:
        return json.loads(self.reminders_json)

    def reminded(self, hours: tuple[int, ...]) -> None:
        self.reminders_json = json.dumps(sorted({*self.reminders_sent, *hours}))

    def finish(self, state: str, at: datetime, reason: str = "") -> None:
        self.state, self.finished_at, self.reason = state, at, reason


class MaintenanceWindow(Base):
    """The weekly window an operator chose; operators without one get the policy's default."""

    __tablename__ = "maintenance_windows"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_json: Mapped[str] = mapped_column(Text)
    chosen_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def window(self) -> WeeklyWindow:
        return WeeklyWindow.model_validate_json(self.window_json)


class Campaigns:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, campaign_id: str) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def all(self) -> list[Campaign]:
        return list((await self.session.execute(select(Campaign).order_by(Campaign.created_at.desc()))).scalars())

    async def active(self) -> list[Campaign]:
        query = select(Campaign).where(Campaign.state.in_(("running", "halted"))).order_by(Campaign.created_at)
        return list((await self.session.execute(query)).scalars())

    async def changing_policy(self) -> list[tuple[str, dict]]:
        """(id, policy changes) of every campaign not cancelled, oldest first: together with the
        policy file they make the policy in force."""
        query = select(Campaign.id, Campaign.policy_changes_json).where(Campaign.state != "cancelled").order_by(Campaign.created_at, Campaign.id)
        return [(row.id, json.loads(row.policy_changes_json)) for row in await self.session.execute(query)]

    async def parts(self, campaign_id: str, operator_id: str | None = None) -> list[Part]:
        query = select(Part).where(Part.campaign_id == campaign_id).order_by(Part.wave, Part.operator_id)
        if operator_id is not None:
            query = query.where(Part.operator_id == operator_id)
        return list((await self.session.execute(query)).scalars())

    async def part(self, campaign_id: str, operator_id: str) -> Part | None:
        return await self.session.get(Part, (campaign_id, operator_id))

    async def part_of_deployment(self, deployment_id: str) -> Part | None:
        query = select(Part).where(or_(Part.deployment_id == deployment_id, Part.rollback_deployment_id == deployment_id))
        return (await self.session.execute(query)).scalars().first()

    async def waiting_parts_of(self, operator_id: str) -> list[Part]:
        query = select(Part).join(Campaign, Campaign.id == Part.campaign_id).where(
            Part.operator_id == operator_id, Part.state == "waiting", Campaign.state.in_(("running", "halted"))
        )
        return list((await self.session.execute(query)).scalars())

    async def windows(self) -> dict[str, WeeklyWindow]:
        return {row.operator_id: row.window for row in (await self.session.execute(select(MaintenanceWindow))).scalars()}

    async def choose_window(self, operator_id: str, window: WeeklyWindow, at: datetime) -> None:
        row = await self.session.get(MaintenanceWindow, operator_id)
        if row is None:
            self.session.add(MaintenanceWindow(operator_id=operator_id, window_json=window.model_dump_json(), chosen_at=at))
        else:
            row.window_json, row.chosen_at = window.model_dump_json(), at
