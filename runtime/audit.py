"""The audit log: who did what from the panel and the command line (logins, submissions, reveals of
credentials, campaign actions, dead-letter replays).

Kept apart from the event stream, in its own stream that refuses deletes and purges, for a year; the
services never consume it, provider admins read it (`fedi audit`, the panel's admin pages). Records
say what was done to what, never a secret.
"""

from datetime import UTC, datetime
from typing import Literal
from uuid import uuid4

import nats
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, Field

AUDIT_STREAM = "FEDI_AUDIT"
AUDIT_PREFIX = "audit"
YEAR = 366 * 24 * 3600

Source = Literal["panel", "cli"]


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: Source
    actor: str = Field(description="Who: a panel account's e-mail, an operator id, or the OS user of the CLI.")
    action: str = Field(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$", description="What, e.g. login.failed, config.submitted.")
    target: str = Field(default="", description="What it was done to: an operator, a deployment, a dead letter.")
    outcome: Literal["ok", "refused"] = "ok"
    details: dict[str, str] = Field(default_factory=dict)

    def subject(self) -> str:
        return f"{AUDIT_PREFIX}.{self.source}.{self.action}"


def audit_stream_config() -> StreamConfig:
    return StreamConfig(
        name=AUDIT_STREAM,
        subjects=[f"{AUDIT_PREFIX}.>"],
        storage=StorageType.FILE,
        max_age=YEAR,
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_audit_stream(js: JetStreamContext) -> None:
    try:
        await js.stream_info(AUDIT_STREAM)
    except NotFoundError:
        await js.add_stream(audit_stream_config())


async def record(js: JetStreamContext, entry: AuditRecord) -> None:
    """Store one record (acknowledged by the server before this returns)."""
    await js.publish(entry.subject(), entry.model_dump_json().encode(), stream=AUDIT_STREAM, headers={"Nats-Msg-Id": str(uuid4())})


async def record_once(nats_url: str, entry: AuditRecord, options: dict | None = None) -> None:
    """For a command-line tool: connect, make sure the stream exists, store, disconnect."""
    connection = await nats.connect(nats_url, **(options or {}))
    try:
        js = connection.jetstream()
        await ensure_audit_stream(js)
        await record(js, entry)
    finally:
        await connection.close()


async def read(
    nats_url: str,
    options: dict | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditRecord]:
    """The newest `limit` records that match, oldest first."""
    connection = await nats.connect(nats_url, **(options or {}))
    found: list[AuditRecord] = []
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(AUDIT_STREAM)
        except NotFoundError:
            return []
        if info.state.messages == 0:
            return []
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since.isoformat()) if since else None
        subscription = await js.subscribe(f"{AUDIT_PREFIX}.>", stream=AUDIT_STREAM, ordered_consumer=True, config=config)
        while True:
            try:
                msg = await subscription.next_msg(timeout=1.0)
            except TimeoutError:
                break
            entry = AuditRecord.model_validate_json(msg.data)
            wanted = (actor is None or entry.actor == actor) and (action is None or entry.action.startswith(action))
            if wanted and (since is None or entry.at >= since):
                found.append(entry)
            if msg.metadata.sequence.stream >= info.state.last_seq:
                break
    finally:
        await connection.close()
    return found[-limit:]
