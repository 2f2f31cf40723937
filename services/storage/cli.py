"""Storage administration from the command line (`fedi storage ...`): the provider's registry of
pre-configured buckets, and what storage holds per operator. Writes storage's own database."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db import Database
from runtime.service import migrations_of

from . import assignments
from .adapters.store import Assignments, Buckets
from .bootstrap import secret_store
from .settings import Settings


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    database = Database(settings.sqlalchemy_url())
    try:
        await database.migrate(migrations_of(__file__))
        async with database.session() as session:
            yield session
            await session.commit()
    finally:
        await database.close()


async def assign_bucket(
    operator_id: str,
    bucket: str,
    access_key_id: str,
    secret: str,
    endpoint: str | None = None,
    region: str | None = None,
    verify: bool = True,
    settings: Settings | None = None,
) -> dict:
    """Assign an existing bucket to an operator; raises `Refused` with the reason when it cannot be reached."""
    settings = settings or Settings()
    async with _session(settings) as session:
        assignment = await assignments.assign(
            session, secret_store(settings), operator_id, bucket, endpoint or settings.s3_endpoint,
            region or settings.s3_region, access_key_id, secret, verify,
        )
        return {"operator": operator_id, "bucket": bucket, "endpoint": assignment.endpoint, "access_key_id": access_key_id}


async def unassign_bucket(operator_id: str, bucket: str, settings: Settings | None = None) -> bool:
    settings = settings or Settings()
    async with _session(settings) as session:
        return await assignments.unassign(session, secret_store(settings), operator_id, bucket)


async def holdings(operator_id: str | None = None, settings: Settings | None = None) -> list[dict]:
    """Every bucket storage holds (or was assigned), optionally for one operator; no secrets."""
    async with _session(settings or Settings()) as session:
        rows = [
            {"operator": r.operator_id, "bucket": r.bucket, "state": r.state, "kind": "pre-configured" if r.preconfigured else "provisioned",
             "access_key_id": r.access_key_id, "resource": r.resource_id}
            for r in await Buckets(session).all() if operator_id in (None, r.operator_id)
        ]
        used = {row["bucket"] for row in rows}
        rows += [
            {"operator": a.operator_id, "bucket": a.bucket, "state": "assigned", "kind": "pre-configured",
             "access_key_id": a.access_key_id, "resource": ""}
            for a in await Assignments(session).all(operator_id) if a.bucket not in used
        ]
        return rows
