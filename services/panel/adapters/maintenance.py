"""The panel's read model of fleet-wide updates: the campaigns it heard of, every notice an operator
was sent (with the e-mail's outbox state), each operator's part in a campaign, and the choices
operators made here. Queries for one operator are scoped to that operator."""

import json
from datetime import datetime

from sqlalchemy import Integer, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from contracts.fleet import WeeklyWindow
from runtime.db import UtcDateTime

from .store import Base, now


class CampaignView(Base):
    """A campaign as the panel knows it: what it asked for, then what the configurator said."""

    __tablename__ = "campaign_views"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16), default="routine")
    requested_by: Mapped[str] = mapped_column(String(254), default="")
    state: Mapped[str] = mapped_column(String(16), default="requested")
    """requested, running, paused, halted, cancelled, completed or refused."""
    state_reason: Mapped[str] = mapped_column(Text, default="")
    state_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    problems_json: Mapped[str] = mapped_column(Text, default="[]")
    open_waves: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=now)

    @property
    def problems(self) -> list[str]:
        return json.loads(self.problems_json)


class Notice(Base):
    """One campaign.operator.notified; `email_state` is the e-mail outbox's mark."""

    __tablename__ = "campaign_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    notice: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    changes_json: Mapped[str] = mapped_column(Text)
    downtime_minutes: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    defer_limit: Mapped[datetime] = mapped_column(UtcDateTime())
    window_json: Mapped[str] = mapped_column(Text)
    planned_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=now)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    email_state: Mapped[str] = mapped_column(String(8), default="pending", index=True)
    """pending, sent, or skipped (no address to write to, or too late to matter)."""
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    email_note: Mapped[str] = mapped_column(Text, default="")
    """Why it was skipped, or the last failure (never a secret)."""
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @property
    def changes(self) -> list[str]:
        return json.loads(self.changes_json)

    @property
    def window(self) -> WeeklyWindow:
        return WeeklyWindow.model_validate_json(self.window_json)


class PartView(Base):
    """One operator's part in a campaign, from its notices and its started/completed/failed events."""

    __tablename__ = "campaign_part_views"

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    state_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    wave: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="")
    deployment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notice_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The newest notice (by when it was sent): the planned start, window, deadline in effect."""
    notice_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ChoiceRecord(Base):
    """A choice an operator made here (the maintenance.window.chosen the panel sent), and its refusal."""

    __tablename__ = "maintenance_choices"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    window_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    defer_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    chosen_by: Mapped[str] = mapped_column(String(254), default="")
    chosen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=now)
    refused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @property
    def window(self) -> WeeklyWindow | None:
        return WeeklyWindow.model_validate_json(self.window_json) if self.window_json else None


class Maintenance:
    """One operator's notices, parts and choices; nothing of another operator is ever returned."""

    def __init__(self, session: AsyncSession, operator_id: str) -> None:
        self.session, self.operator_id = session, operator_id

    async def notices(self) -> list[Notice]:
        query = select(Notice).where(Notice.operator_id == self.operator_id).order_by(Notice.occurred_at.desc(), Notice.id.desc())
        return list((await self.session.execute(query)).scalars())

    async def unread(self) -> int:
        query = select(func.count()).select_from(Notice).where(Notice.operator_id == self.operator_id, Notice.read_at.is_(None))
        return (await self.session.execute(query)).scalar_one()

    async def mark_read(self, up_to: int) -> None:
        """Marks read what was shown (notices up to that id), not what arrived meanwhile."""
        await self.session.execute(
            update(Notice).where(Notice.operator_id == self.operator_id, Notice.read_at.is_(None), Notice.id <= up_to).values(read_at=now())
        )

    async def parts(self) -> list[tuple[PartView, CampaignView | None, Notice | None]]:
        """Each campaign the operator has a part in, newest notice first, with what the panel knows of the campaign."""
        query = (
            select(PartView, CampaignView, Notice)
            .outerjoin(CampaignView, CampaignView.id == PartView.campaign_id)
            .outerjoin(Notice, Notice.id == PartView.notice_id)
            .where(PartView.operator_id == self.operator_id)
            .order_by(PartView.notice_at.desc().nulls_last())
        )
        return [tuple(row) for row in (await self.session.execute(query)).all()]

    async def part(self, campaign_id: str) -> tuple[PartView, CampaignView | None, Notice | None] | None:
        return next((row for row in await self.parts() if row[0].campaign_id == campaign_id), None)

    async def choices(self, limit: int = 20) -> list[ChoiceRecord]:
        query = select(ChoiceRecord).where(ChoiceRecord.operator_id == self.operator_id).order_by(ChoiceRecord.chosen_at.desc()).limit(limit)
        return list((await self.session.execute(query)).scalars())


class Fleetwide:
    """Across operators, for the provider's admins: campaigns, their titles, operators' choices."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def campaigns(self) -> list[CampaignView]:
        return list((await self.session.execute(select(CampaignView).order_by(CampaignView.created_at.desc()))).scalars())

    async def campaign(self, campaign_id: str) -> CampaignView | None:
        return await self.session.get(CampaignView, campaign_id)

    async def titles(self, campaign_ids: set[str]) -> dict[str, str]:
        """Titles of campaigns, from the campaign or else any notice of it."""
        if not campaign_ids:
            return {}
        found = dict((await self.session.execute(select(Notice.campaign_id, Notice.title).where(Notice.campaign_id.in_(campaign_ids)))).all())
        views = (await self.session.execute(select(CampaignView.id, CampaignView.title).where(CampaignView.id.in_(campaign_ids)))).all()
        return found | {campaign_id: title for campaign_id, title in views if title}

    async def latest_windows(self) -> dict[str, ChoiceRecord]:
        """Each operator's newest window choice that was not refused."""
        query = select(ChoiceRecord).where(ChoiceRecord.kind == "window", ChoiceRecord.refused_at.is_(None)).order_by(ChoiceRecord.chosen_at)
        return {choice.operator_id: choice for choice in (await self.session.execute(query)).scalars()}

    async def latest_choices(self, campaign_id: str) -> dict[str, ChoiceRecord]:
        """Each operator's newest choice about this campaign or about their window, refused or not."""
        query = (
            select(ChoiceRecord)
            .where((ChoiceRecord.campaign_id == campaign_id) | (ChoiceRecord.kind == "window"))
            .order_by(ChoiceRecord.chosen_at)
        )
        return {choice.operator_id: choice for choice in (await self.session.execute(query)).scalars()}


class NoticeMail:
    """The e-mail outbox: notices not mailed yet, oldest first."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, moment: datetime, limit: int = 50) -> list[Notice]:
        query = (
            select(Notice)
            .where(Notice.email_state == "pending")
            .where((Notice.email_next_at.is_(None)) | (Notice.email_next_at <= moment))
            .order_by(Notice.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())
