"""Who may use the panel: users, their sessions and API tokens, and failed log-ins."""

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .store import LoginFailure, User, UserToken, WebSession, aware, now


class Accounts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_email(self, email: str) -> User | None:
        return (await self.session.execute(select(User).where(User.email == email))).scalar()

    async def user(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def user_of_operator(self, operator_id: str) -> User | None:
        return (await self.session.execute(select(User).where(User.operator_id == operator_id))).scalar()

    async def session_of(self, id_hash: str) -> tuple[WebSession, User] | None:
        query = select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.id_hash == id_hash)
        found = (await self.session.execute(query)).first()
        if found is None or aware(found[0].expires_at) <= now():
            return None
        return found[0], found[1]

    async def end_session(self, id_hash: str) -> None:
        await self.session.execute(delete(WebSession).where(WebSession.id_hash == id_hash))

    async def end_sessions_of(self, user_id: int) -> None:
        await self.session.execute(delete(WebSession).where(WebSession.user_id == user_id))

    async def user_of_token(self, token_hash: str) -> User | None:
        token = await self.session.get(UserToken, token_hash)
        return await self.session.get(User, token.user_id) if token else None

    async def failures_since(self, key: str, since: datetime) -> int:
        query = select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key, LoginFailure.at > since)
        return (await self.session.execute(query)).scalar() or 0

    async def oldest_failure_since(self, key: str, since: datetime) -> datetime | None:
        query = select(func.min(LoginFailure.at)).where(LoginFailure.key == key, LoginFailure.at > since)
        found = (await self.session.execute(query)).scalar()
        return aware(found) if found else None

    async def record_failures(self, keys: list[str], moment: datetime) -> None:
        self.session.add_all(LoginFailure(key=key, at=moment) for key in keys)

    async def forget_failures(self, key: str) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.key == key))

    async def forget_failures_before(self, moment: datetime) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.at < moment))
