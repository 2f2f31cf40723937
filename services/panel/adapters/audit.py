"""The panel's side of the audit log (runtime.audit): who did what from its pages and API."""

from typing import Protocol

from runtime import logs
from runtime.audit import AuditRecord, ensure_audit_stream, record
from runtime.bus import Bus

log = logs.get("panel")


class Auditor(Protocol):
    async def record(self, actor: str, action: str, target: str, **details: str) -> None:
        """Keeps one record. Never raises: what it records has been done either way."""


def entry(actor: str, action: str, target: str, details: dict[str, str]) -> AuditRecord:
    return AuditRecord(source="panel", actor=actor, action=action, target=target, details=details)


class BusAuditor:
    """Into the audit stream, through the panel's own bus connection."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._stream_ready = False

    async def record(self, actor: str, action: str, target: str, **details: str) -> None:
        try:
            js = self.bus.broker.connection.jetstream()
            if not self._stream_ready:
                await ensure_audit_stream(js)
                self._stream_ready = True
            await record(js, entry(actor, action, target, details))
        except Exception as exc:
            log.error("not written to the audit log", actor=actor, action=action, target=target, error=type(exc).__name__)


class LogAuditor:
    """Where no bus is wired in: the record goes to the log only."""

    async def record(self, actor: str, action: str, target: str, **details: str) -> None:
        log.info("audit", **entry(actor, action, target, details).model_dump(mode="json", exclude={"at"}))
