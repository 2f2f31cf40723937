"""A unit of work: one transaction holding the state change, the outgoing messages (outbox) and
the id of the message that caused them, so a crash loses nothing and duplicates nothing."""

import json
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Message, encode

from .server_trace import TRACE_DEST, trace_dest, wants_trace
from .tables import messaging_tables
from .telemetry import current_traceparent
from .tracing import child_traceparent

TRACEPARENT = "traceparent"
CORRELATION = "correlation_id"
DELIVERY = "Fedi-Delivery"
"""On a message a handler published: on which delivery of its cause the handler succeeded (1: the first)."""
HANDLING_STARTED = "Fedi-Handling-Started"
"""On a message a handler published: when the handler started on its cause (`fedi trace --timeline`
tells the waiting from the working time with it)."""


class UnitOfWork:
    def __init__(
        self,
        session: AsyncSession,
        outbox,
        processed,
        traceparent: str | None = None,
        on_publish=None,
        handling: dict | None = None,
        server_trace: frozenset[str] = frozenset(),
    ) -> None:
        self.session = session
        self._server_trace = server_trace
        self._handling = handling or {}
        self._on_publish = on_publish
        self._outbox = outbox
        self._processed = processed
        self.traceparent = traceparent
        self._after_commit: list = []
        self._rows: list[dict] = []
        self.published: list[Message] = []

    async def __aenter__(self) -> "UnitOfWork":
        return self

    async def __aexit__(self, *exc) -> None:
        # close() ends any uncommitted transaction (rolled back) and detaches objects without
        # expiring them, so what was read stays readable after the unit of work.
        await self.session.close()

    def publish(self, message: Message) -> None:
        """Queue a message; it leaves with the commit (through the outbox)."""
        traceparent = current_traceparent() or child_traceparent(self.traceparent)
        headers = {TRACEPARENT: traceparent, CORRELATION: message.correlation_id, **self._handling}
        if wants_trace(self._server_trace, message.operator_id):
            headers[TRACE_DEST] = trace_dest(message.correlation_id)
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

    def after_commit(self, callback) -> None:
        """Run `callback()` once the transaction has committed (e.g. wake a worker)."""
        self._after_commit.append(callback)

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
        published = bool(self._rows)
        if published:
            await self.session.execute(insert(self._outbox), self._rows)
        await self.session.commit()
        self._rows.clear()
        callbacks, self._after_commit = self._after_commit, []
        if published and self._on_publish:
            callbacks.append(self._on_publish)
        for callback in callbacks:
            callback()


class UnitsOfWork:
    """Makes units of work for one service's database."""

    def __init__(self, database, metadata) -> None:
        self.database = database
        self.outbox, self.processed = _tables(metadata)
        self.on_publish = None
        """Called after a commit that queued messages (the bus wakes its outbox relay)."""
        self.server_trace: frozenset[str] = frozenset()
        """Operators whose messages the nats-server traces (the bus sets it from its settings)."""

    def __call__(self, traceparent: str | None = None, delivery: int | None = None) -> UnitOfWork:
        """`delivery`: the delivery of the message being handled, if any (noted on what it causes)."""
        handling = {DELIVERY: str(delivery), HANDLING_STARTED: datetime.now(UTC).isoformat()} if delivery else None
        return UnitOfWork(
            self.database.session(), self.outbox, self.processed, traceparent, self.on_publish, handling, self.server_trace
        )


def _tables(metadata):
    if "outbox" in metadata.tables:
        return metadata.tables["outbox"], metadata.tables["processed_messages"]
    return messaging_tables(metadata)

