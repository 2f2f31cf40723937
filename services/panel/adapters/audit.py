"""The panel's side of the audit log (runtime.audit): who did what from its pages and API, and the
log as provider admins read it."""

from datetime import datetime
from typing import Protocol

from runtime import logs
from runtime.audit import AuditRecord, ensure_audit_stream, read, record
from runtime.bus import Bus

from .bus import Unavailable

log = logs.get("panel")
SHOWN = 500
"""The newest records a page of the audit log shows."""


class Auditor(Protocol):
    async def record(self, actor: str, action: str, target: str, outcome: str = "ok", **details: str) -> None:
        """Keeps one record (outcome "ok" or "refused"). Never raises: what it records has been done
        (or refused) either way."""

    async def newest(self, actor: str | None = None, action: str | None = None, limit: int = SHOWN, since: datetime | None = None) -> list[AuditRecord]:
        """The newest records first (of those since `since`); `action` matches as a prefix (raises Unavailable)."""


def entry(actor: str, action: str, target: str, outcome: str, details: dict[str, str]) -> AuditRecord:
    return AuditRecord(source="panel", actor=actor, action=action, target=target, outcome=outcome, details=details)


class BusAuditor:
    """Into the audit stream, through the panel's own bus connection; read back over a connection of its own."""

    def __init__(self, bus: Bus, nats_url: str = "", options: dict | None = None) -> None:
        self.bus = bus
        self.nats_url, self.options = nats_url, options or {}
        self._stream_ready = False

    async def record(self, actor: str, action: str, target: str, outcome: str = "ok", **details: str) -> None:
        try:
            js = self.bus.broker.connection.jetstream()
            if not self._stream_ready:
                await ensure_audit_stream(js)
                self._stream_ready = True
            await record(js, entry(actor, action, target, outcome, details))
        except Exception as exc:
            log.error("not written to the audit log", actor=actor, action=action, target=target, error=type(exc).__name__)

    async def newest(self, actor: str | None = None, action: str | None = None, limit: int = SHOWN, since: datetime | None = None) -> list[AuditRecord]:
        try:
            found = await read(self.nats_url, self.options, actor=actor or None, action=action or None, since=since, limit=limit)
        except Exception as exc:
            log.warning("audit log unreadable", error=type(exc).__name__)
            raise Unavailable("the audit log cannot be read right now") from None
        return found[::-1]


class LogAuditor:
    """Where no bus is wired in: the record goes to the log only, and there is no log to read back."""

    async def record(self, actor: str, action: str, target: str, outcome: str = "ok", **details: str) -> None:
        log.info("audit", **entry(actor, action, target, outcome, details).model_dump(mode="json", exclude={"at"}))

    async def newest(self, actor: str | None = None, action: str | None = None, limit: int = SHOWN, since: datetime | None = None) -> list[AuditRecord]:
        raise Unavailable("the audit log is not kept here")
