"""Identity's database: service admin accounts (the embedded directory) and encrypted secrets."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.secrets import secrets_table
from runtime.tables import messaging_tables


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)
SECRETS = secrets_table(Base.metadata)


class Account(Base):
    __tablename__ = "accounts"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(64))
    password_ref: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class Accounts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, resource_id: str) -> Account | None:
        return await self.session.get(Account, resource_id)

    async def of_operator(self, operator_id: str) -> list[Account]:
        query = select(Account).where(Account.operator_id == operator_id).order_by(Account.resource_id)
        return list((await self.session.execute(query)).scalars())

    def add(self, account: Account) -> None:
        self.session.add(account)
