"""A unit of work: one transaction holding the state change, the outgoing messages (outbox) and
the id of the message that caused them, so a crash loses nothing and duplicates nothing."""

import json
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Message, encode

from .tables import messaging_tables
from .tracing import child_traceparent

TRACEPARENT = "traceparent"
CORRELATION = "correlation_id"


class UnitOfWork:
    def __init__(self, session: AsyncSession, outbox, processed, traceparent: str | None = None) -> None:
        self.session = session
        self._outbox = outbox
        self._processed = processed
        self._traceparent = traceparent
        self._rows: list[dict] = []
        self.published: list[Message] = []

    async def __aenter__(self) -> "UnitOfWork":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.rollback()
        await self.session.close()

    def publish(self, message: Message) -> None:
        """Queue a message; it leaves with the commit (through the outbox)."""
        headers = {TRACEPARENT: child_traceparent(self._traceparent), CORRELATION: message.correlation_id}
        self._rows.append(
            {
                "event_id": str(message.event_id),
                "subject": message.subject(),
                "payload": encode(message),
                "headers": json.dumps(headers),
                "created_at": datetime.now(UTC),
            }
        )
        self.published.append(message)

    async def already_processed(self, consumer: str, event_id: str) -> bool:
        query = select(self._processed.c.event_id).where(
            self._processed.c.consumer == consumer, self._processed.c.event_id == event_id
        )
        return (await self.session.execute(query)).first() is not None

    async def mark_processed(self, consumer: str, event_id: str) -> None:
        await self.session.execute(
            insert(self._processed).values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
        )

    async def commit(self) -> None:
        if self._rows:
            await self.session.execute(insert(self._outbox), self._rows)
        await self.session.commit()
        self._rows.clear()


class UnitsOfWork:
    """Makes units of work for one service's database."""

    def __init__(self, database, metadata) -> None:
        self.database = database
        self.outbox, self.processed = _tables(metadata)

    def __call__(self, traceparent: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.database.session(), self.outbox, self.processed, traceparent)


def _tables(metadata):
    if "outbox" in metadata.tables:
        return metadata.tables["outbox"], metadata.tables["processed_messages"]
    return messaging_tables(metadata)

