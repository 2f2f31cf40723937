"""The read model of operators' own directories, from identity's events: the newest connection
wins (by when it happened), each sync report is kept once, whatever the order or redelivery, and
both go when the operator's account is removed."""

from sqlalchemy import delete

from contracts.events import DirectoryConnected, DirectoryRemoved, DirectorySyncCompleted, DirectorySyncFailed
from runtime.uow import UnitOfWork

from .adapters.directory import DirectoryConnection, DirectorySync


async def directory_connected(event: DirectoryConnected, uow: UnitOfWork) -> None:
    connection = await uow.session.get(DirectoryConnection, event.operator_id)
    if connection is None:
        connection = DirectoryConnection(operator_id=event.operator_id)
        uow.session.add(connection)
    elif connection.connected_at > event.occurred_at:
        return
    connection.parameters_json = event.parameters.model_dump_json()
    connection.users, connection.groups, connection.connected_at = event.users, event.groups, event.occurred_at


async def _report(event: DirectorySyncCompleted | DirectorySyncFailed, uow: UnitOfWork, **fields) -> None:
    if await uow.session.get(DirectorySync, str(event.event_id)) is None:
        uow.session.add(DirectorySync(
            event_id=str(event.event_id), operator_id=event.operator_id, occurred_at=event.occurred_at, trigger=event.trigger, **fields,
        ))


async def directory_sync_completed(event: DirectorySyncCompleted, uow: UnitOfWork) -> None:
    await _report(
        event, uow, ok=True, users_total=event.users_total, users_added=event.users_added, users_updated=event.users_updated,
        users_removed=event.users_removed, memberships_added=event.memberships_added, memberships_removed=event.memberships_removed,
        duration_seconds=event.duration_seconds, reason="\n".join(missing.message for missing in event.missing_groups),
    )


async def directory_sync_failed(event: DirectorySyncFailed, uow: UnitOfWork) -> None:
    await _report(event, uow, ok=False, problem=event.problem, reason=event.reason)


async def directory_removed(event: DirectoryRemoved, uow: UnitOfWork) -> None:
    """The operator's account was removed: identity dropped the link to their directory, and its reports go with it."""
    if event.external_link_removed:
        for table in (DirectoryConnection, DirectorySync):
            await uow.session.execute(delete(table).where(table.operator_id == event.operator_id))


HANDLERS = {
    DirectoryConnected: directory_connected,
    DirectorySyncCompleted: directory_sync_completed,
    DirectorySyncFailed: directory_sync_failed,
    DirectoryRemoved: directory_removed,
}
