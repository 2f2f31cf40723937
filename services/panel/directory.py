"""An operator's own LDAP directory (US 1.2): checking and connecting it through identity, asking
for a sync now, and what the panel heard back (the connection, each sync's report). Connecting and
syncing are written to the audit log; the bind password goes to identity only and is never kept,
logged or audited here."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.commands import DirectorySyncRequested
from contracts.configuration import SERVICES
from contracts.directory import DirectoryParameters
from contracts.requests import DirectoryConnectionReply

from . import operators
from .adapters.directory import Directories, DirectorySync
from .web.context import Context

PRODUCER = "panel"
TRIGGERS = {"connect": "on connect", "demand": "on demand", "schedule": "scheduled"}


@dataclass(frozen=True)
class Connection:
    parameters: DirectoryParameters
    users: int
    groups: int
    connected_at: datetime


def counted(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def reached(reply: DirectoryConnectionReply) -> str:
    return f"{counted(reply.users, 'user')}, {counted(reply.groups, 'group')}"


def answer_status(reply: DirectoryConnectionReply) -> int:
    """200 when identity read the directory, 422 when it could not (a problem and its reason), 503
    when identity did not answer."""
    return 200 if reply.ok else 422 if reply.problem else 503


def report(sync: DirectorySync) -> dict[str, Any]:
    """One sync, as the page and the API show it."""
    shown: dict[str, Any] = {"at": sync.occurred_at, "trigger": sync.trigger, "trigger_text": TRIGGERS.get(sync.trigger, sync.trigger), "ok": sync.ok}
    if not sync.ok:
        return shown | {"problem": sync.problem, "reason": sync.reason}
    return shown | {
        "users_total": sync.users_total, "users_added": sync.users_added, "users_updated": sync.users_updated,
        "users_removed": sync.users_removed, "memberships_added": sync.memberships_added,
        "memberships_removed": sync.memberships_removed, "duration_seconds": sync.duration_seconds,
        "warnings": sync.reason.splitlines(),
    }


async def overview(context: Context, operator_id: str) -> dict[str, Any]:
    """The connection identity keeps (None until connected), the sync reports newest first, the services enabled."""
    async with context.units.database.session() as session:
        directories = Directories(session, operator_id)
        row, syncs = await directories.connection(), await directories.syncs()
        configuration = await operators.current_configuration(session, operator_id)
    connection = Connection(row.parameters, row.users, row.groups, row.connected_at) if row else None
    enabled = [service for service in SERVICES if configuration and configuration.service(service).enable]
    return {"connection": connection, "syncs": [report(sync) for sync in syncs], "enabled": enabled}


async def check(context: Context, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
    """Identity's answer; nothing is kept anywhere."""
    return await context.directory.check(operator_id, parameters, bind_password)


async def connect(context: Context, operator_id: str, actor: str, parameters: DirectoryParameters, bind_password: str,
                  via: str) -> DirectoryConnectionReply:
    """Identity checks, keeps the connection and syncs at once; the attempt is audited either way."""
    reply = await context.directory.connect(operator_id, parameters, bind_password)
    details = {"url": parameters.url, "bind_dn": parameters.bind_dn, "base_dn": parameters.base_dn,
               "groups_mapped": str(len(parameters.mapping)), "via": via}
    if reply.ok:
        details |= {"users": str(reply.users), "groups": str(reply.groups)}
    else:
        details |= {"problem": reply.problem or "no answer", "reason": reply.error or ""}
    await context.auditor.record(actor, "directory.connect", operator_id, "ok" if reply.ok else "refused", **details)
    return reply


async def sync_now(context: Context, operator_id: str, actor: str, via: str) -> str:
    """Asks identity to sync at once (through the outbox); its report arrives as an event. The correlation id."""
    command = DirectorySyncRequested(correlation_id=f"directory-sync/{operator_id}/{uuid.uuid4()}", operator_id=operator_id, producer=PRODUCER)
    async with context.units() as uow:
        uow.publish(command)
        await uow.commit()
    await context.auditor.record(actor, "directory.sync_requested", operator_id, correlation_id=command.correlation_id, via=via)
    return command.correlation_id
