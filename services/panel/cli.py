"""Panel administration from the command line (`fedi operator create`, `fedi admin create`)."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db import Database
from runtime.service import migrations_of

from . import accounts, operators
from .settings import Settings

T = TypeVar("T")


async def _in_database(settings: Settings | None, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = settings or Settings()
    database = Database(settings.sqlalchemy_url())
    try:
        await database.migrate(migrations_of(__file__))
        async with database.session() as session:
            return await work(session)
    finally:
        await database.close()


async def create_operator(name: str, settings: Settings | None = None) -> str:
    return await _in_database(settings, lambda session: operators.create_operator(session, name))


async def create_admin(email: str, password: str, settings: Settings | None = None) -> None:
    """A provider admin who logs in to the panel (raises accounts.Problems when refused)."""
    await _in_database(settings, lambda session: accounts.create_admin(session, email, password))
