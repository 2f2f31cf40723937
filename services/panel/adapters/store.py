"""The panel's database: operators and their API tokens, people who log in and their sessions,
configuration revisions and drafts under review, and read models built from other services' events
(deployments, admin credentials to reveal once, storage use)."""

import json
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Integer, Select, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.tables import messaging_tables

from ..domain.wording import is_admin_account


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    removal_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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


class User(Base):
    """Someone who logs in to the panel: an operator's person, or one of the provider's admins."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class WebSession(Base):
    """A logged-in browser; the cookie holds the signed id, only its hash is stored."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserToken(Base):
    """An API token made from the panel by a logged-in user (only its hash is stored)."""

    __tablename__ = "user_api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class LoginFailure(Base):
    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class Draft(Base):
    """A valid configuration waiting for the operator's review of its plan."""

    __tablename__ = "drafts"

    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    configuration_json: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(200), default="")
    going_back_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The failed deployment this draft goes back from, to the last configuration that worked (None for a change)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Credential(Base):
    """A service admin account from `account.created`; its password is fetched from identity once."""

    __tablename__ = "credentials"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    deployment_id: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    secret_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BucketUsage(Base):
    """The latest `bucket.usage.reported` of each bucket."""

    __tablename__ = "bucket_usage"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    objects: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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
    origin: Mapped[str] = mapped_column(String(16), default="operator")
    """Who started it (contracts.events.PlanCreated.origin): operator, campaign, rollback or removal."""
    campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    holds_json: Mapped[str] = mapped_column(Text, default="{}")
    """What the deployment's plan holds once done (domain.resource_use.holdings)."""
    last_event_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_event_step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
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
            "origin": self.origin or "operator",
            "campaign_id": self.campaign_id,
            "holds": json.loads(self.holds_json or "{}"),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _newest_first(query: Select, operator_id: str) -> Select:
    return query.where(DeploymentView.operator_id == operator_id).order_by(DeploymentView.created_at.desc(), DeploymentView.revision.desc())


class Panel:
    """Queries of one operator's data; every one is scoped to the operator it is given."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def operator_of_token(self, token_hash: str) -> str | None:
        token = await self.session.get(ApiToken, token_hash)
        return token.operator_id if token else None

    async def next_revision(self, operator_id: str) -> int:
        query = select(func.max(Revision.number)).where(Revision.operator_id == operator_id)
        return ((await self.session.execute(query)).scalar() or 0) + 1

    async def latest_revision(self, operator_id: str, skipping: tuple[str, ...] = ()) -> Revision | None:
        """The operator's newest revision, but those whose own deployment ended in one of the `skipping` states."""
        query = select(Revision).where(Revision.operator_id == operator_id)
        if skipping:
            ended = select(DeploymentView.revision).where(
                DeploymentView.operator_id == operator_id, DeploymentView.origin == "operator", DeploymentView.state.in_(skipping)
            )
            query = query.where(Revision.number.not_in(ended))
        return (await self.session.execute(query.order_by(Revision.number.desc()).limit(1))).scalar()

    async def revision(self, operator_id: str, number: int) -> Revision | None:
        return await self.session.get(Revision, (operator_id, number))

    async def deployment(self, operator_id: str, deployment_id: str) -> DeploymentView | None:
        view = await self.session.get(DeploymentView, deployment_id)
        return view if view and view.operator_id == operator_id else None

    async def deployments(self, operator_id: str) -> list[DeploymentView]:
        return list((await self.session.execute(_newest_first(select(DeploymentView), operator_id))).scalars())

    async def latest(self, operator_id: str) -> DeploymentView | None:
        return (await self.session.execute(_newest_first(select(DeploymentView), operator_id).limit(1))).scalar()

    async def draft(self, operator_id: str) -> Draft | None:
        return await self.session.get(Draft, operator_id)

    async def discard_draft(self, operator_id: str) -> None:
        draft = await self.session.get(Draft, operator_id)
        if draft is not None:
            await self.session.delete(draft)

    async def admin_accounts(self, operator_id: str) -> list[Credential]:
        """The operator's service admin accounts (identity also tells of mail relay accounts), but those a
        succeeded deployment removed since (its service switched off, or gone back from after a failed change)."""
        query = select(Credential).where(Credential.operator_id == operator_id).order_by(Credential.service)
        removed = await self._removed(operator_id)
        found = (await self.session.execute(query)).scalars()
        return [c for c in found if is_admin_account(c.resource_id) and c.resource_id not in removed]

    async def _removed(self, operator_id: str) -> set[str]:
        """Resources whose last word among the succeeded deployments, newest first, was their deletion."""
        last: dict[str, str] = {}
        query = _newest_first(select(DeploymentView.changes_json), operator_id).where(DeploymentView.state == "succeeded")
        for changes_json in (await self.session.execute(query)).scalars():
            for change in json.loads(changes_json):
                last.setdefault(change["resource_id"], change["action"])
        return {resource_id for resource_id, action in last.items() if action == "delete"}

    async def credential(self, operator_id: str, service: str) -> Credential | None:
        return next((c for c in await self.admin_accounts(operator_id) if c.service == service), None)

    async def last_succeeded(self, operator_id: str, origins: tuple[str, ...] | None = None) -> DeploymentView | None:
        """The operator's newest succeeded deployment (of these origins only, when given)."""
        query = _newest_first(select(DeploymentView), operator_id).where(DeploymentView.state == "succeeded")
        if origins is not None:
            query = query.where(DeploymentView.origin.in_(origins))
        return (await self.session.execute(query.limit(1))).scalar()

    async def usage(self, operator_id: str) -> list[BucketUsage]:
        query = select(BucketUsage).where(BucketUsage.operator_id == operator_id).order_by(BucketUsage.bucket)
        return list((await self.session.execute(query)).scalars())

    async def operators(self) -> list[Operator]:
        return list((await self.session.execute(select(Operator).order_by(Operator.id))).scalars())


class Provider:
    """Queries across operators, for the provider's admins."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def operators(self) -> list[dict]:
        """Every operator with its user's e-mail, deployments count, latest deployment and storage use."""
        operators = (await self.session.execute(select(Operator).order_by(Operator.id))).scalars()
        emails = dict((await self.session.execute(select(User.operator_id, User.email).where(User.operator_id.is_not(None)))).all())
        latest: dict[str, DeploymentView] = {}
        good: dict[str, DeploymentView] = {}
        counts: dict[str, int] = {}
        views = await self.session.execute(select(DeploymentView).order_by(DeploymentView.created_at.desc(), DeploymentView.revision.desc()))
        for view in views.scalars():
            latest.setdefault(view.operator_id, view)
            if view.state == "succeeded":
                good.setdefault(view.operator_id, view)
            counts[view.operator_id] = counts.get(view.operator_id, 0) + 1
        usage_query = select(BucketUsage.operator_id, func.sum(BucketUsage.bytes), func.sum(BucketUsage.objects), func.count())
        usage = {row[0]: row[1:] for row in (await self.session.execute(usage_query.group_by(BucketUsage.operator_id))).all()}
        return [
            {
                "id": operator.id,
                "email": emails.get(operator.id, ""),
                "created_at": operator.created_at,
                "removal_requested_at": operator.removal_requested_at,
                "deployments": counts.get(operator.id, 0),
                "latest": latest[operator.id].as_dict() if operator.id in latest else None,
                "bytes": int(usage.get(operator.id, (0, 0, 0))[0] or 0),
                "objects": int(usage.get(operator.id, (0, 0, 0))[1] or 0),
                "buckets": int(usage.get(operator.id, (0, 0, 0))[2] or 0),
                "holds": json.loads(good[operator.id].holds_json or "{}") if operator.id in good else None,
            }
            for operator in operators
        ]

    async def stuck(self, quiet_since: datetime) -> list[DeploymentView]:
        """Planned or running deployments that have heard nothing since `quiet_since`, the quietest first."""
        query = (
            select(DeploymentView)
            .where(DeploymentView.state.in_(("planned", "running")), DeploymentView.last_event_at < quiet_since)
            .order_by(DeploymentView.last_event_at)
        )
        return list((await self.session.execute(query)).scalars())
