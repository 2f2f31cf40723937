"""SQLAlchemy 2 engine and sessions: SQLite by default, PostgreSQL by URL; Alembic migrations per service."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, event
from sqlalchemy.types import TypeDecorator
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class UtcDateTime(TypeDecorator):
    """A UTC datetime that comes back with its zone from SQLite too (which drops it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, open transactions: sqlite3 would run SELECTs outside
    # any transaction, so a read-modify-write could silently lose a concurrent update.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "fedi_read_only"
"""Execution option of `Database.reader()`'s sessions."""


def _sqlite_begin(connection) -> None:
    # IMMEDIATE: take the write lock up front, so concurrent writers wait (busy_timeout) instead of
    # failing when a read transaction tries to become a write transaction. A reader never writes, so
    # it begins deferred and reads its WAL snapshot beside the writer instead of queueing for the lock.
    connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


_MIGRATING = asyncio.Lock()
"""Alembic keeps its migration context in a module global: one migration at a time per process."""


class Database:
    """One service's database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.readers = async_sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    def reader(self) -> AsyncSession:
        """A session for reading only: on SQLite it does not wait for the write lock (nor hold it), so
        pages read while the service writes; a write through it may fail as busy at once."""
        return self.readers()

    async def migrate(self, migrations_dir: Path) -> None:
        """Bring the schema to the newest revision of that service's migrations."""

        def upgrade(connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(migrations_dir))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        async with _MIGRATING, self.engine.begin() as connection:
            await connection.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()
