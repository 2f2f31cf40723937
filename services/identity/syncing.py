"""Operators' own directories: the connection check, keeping the connection, and the syncs (on
connect, on demand, on a schedule), each reported as an event. A failed check or fetch changes nothing.
A mapped group they do not have is refused by the check; on a later sync it counts as a group with no
members, and the report says so."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.directory import DirectoryParameters
from contracts.events import DirectoryConnected, DirectorySyncCompleted, DirectorySyncFailed
from contracts.requests import DirectoryConnectionReply, DirectoryConnectionRequest
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitsOfWork

from .adapters.store import DirectoryLink, admin_services, now
from .directory import Directory
from .domain.sync import DirectoryProblem, Snapshot, check_mapping, plan_sync
from .domain.tree import PEOPLE

PRODUCER = "identity"
LINK_READERS = (PRODUCER,)
"""The bind password of an operator's directory is read by identity itself, never handed out."""
log = logs.get(PRODUCER)

Fetch = Callable[[DirectoryParameters, str], Snapshot]


class Syncer:
    def __init__(
        self,
        units: UnitsOfWork,
        directories: Callable[[AsyncSession], Directory],
        secrets_store: Secrets,
        fetch: Fetch,
        interval_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.units = units
        self.directories = directories
        self.secrets_store = secrets_store
        self.fetch = fetch
        self.interval = timedelta(seconds=interval_seconds)
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # -- request/reply ----------------------------------------------------------------------------

    async def check(self, request: DirectoryConnectionRequest) -> DirectoryConnectionReply:
        """`directory.check`: can we read their directory as configured? Changes nothing."""
        try:
            snapshot = await self._fetch(request.parameters, request.bind_password)
            check_mapping(snapshot, request.parameters.mapping)
        except DirectoryProblem as problem:
            log.info("directory check failed", operator_id=request.operator_id, problem=problem.kind, reason=problem.reason)
            return DirectoryConnectionReply(ok=False, problem=problem.kind, error=problem.reason)
        return DirectoryConnectionReply(ok=True, users=len(snapshot.users), groups=snapshot.group_count)

    async def connect(self, request: DirectoryConnectionRequest) -> DirectoryConnectionReply:
        """`directory.connect`: check, then keep the parameters (password encrypted) and sync at once."""
        reply = await self.check(request)
        if not reply.ok:
            return reply
        operator = request.operator_id
        async with self.units() as uow:
            link = await uow.session.get(DirectoryLink, operator)
            if link is not None:
                await self.secrets_store.delete(uow.session, link.password_ref)
            password_ref = await self.secrets_store.put(uow.session, request.bind_password, LINK_READERS)
            if link is None:
                link = DirectoryLink(operator_id=operator, last_error="", password_ref=password_ref)
                uow.session.add(link)
            connected = DirectoryConnected(
                correlation_id=f"directory/{operator}/{uuid.uuid4()}",
                operator_id=operator,
                producer=PRODUCER,
                parameters=request.parameters,
                users=reply.users,
                groups=reply.groups,
            )
            link.parameters = request.parameters.model_dump(mode="json")
            link.password_ref = password_ref
            self._make_due(link, "connect", connected.correlation_id, str(connected.event_id))
            uow.publish(connected)
            uow.after_commit(self.wake)
            await uow.commit()
        log.info("directory connected", operator_id=operator, url=request.parameters.url, users=reply.users)
        return reply

    # -- syncing ----------------------------------------------------------------------------------

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sync_due()
            except Exception:
                log.warning("directory sync round failed; will retry", exc_info=True)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def sync_due(self) -> int:
        async with self.units() as uow:
            query = select(DirectoryLink.operator_id).where(DirectoryLink.next_sync_at <= now())
            due = list((await uow.session.execute(query)).scalars())
        for operator in due:
            await self.sync(operator)
        return len(due)

    async def sync(self, operator: str) -> None:
        async with self.units() as uow:
            link = await uow.session.get(DirectoryLink, operator)
            if link is None:
                return
            found = await self.secrets_store.get(uow.session, link.password_ref)
            parameters = DirectoryParameters.model_validate(link.parameters)
            trigger, due_at = link.pending_trigger, link.next_sync_at
            envelope = dict(
                correlation_id=link.pending_correlation_id or f"directory-sync/{operator}/{uuid.uuid4()}",
                causation_id=link.pending_causation_id,
                operator_id=operator,
                producer=PRODUCER,
            )
        started = time.perf_counter()
        try:
            if found is None:
                raise DirectoryProblem("not_connected", "the directory's bind password is missing: connect it again")
            snapshot = await self._fetch(parameters, found[0])
        except DirectoryProblem as problem:
            log.warning("directory sync failed", operator_id=operator, problem=problem.kind, reason=problem.reason)
            await self._finish(operator, due_at, DirectorySyncFailed(**envelope, trigger=trigger, problem=problem.kind, reason=problem.reason))
            return

        async with self.units() as uow:
            directory = self.directories(uow.session)
            services = await admin_services(uow.session, operator)
            await directory.ensure_units(operator, PEOPLE)
            plan = plan_sync(
                directory.tree, operator, snapshot, parameters.mapping,
                await directory.people(operator), await directory.groups(operator, services),
            )
            await directory.apply(plan.changes)
            completed = DirectorySyncCompleted(
                **envelope,
                trigger=trigger,
                users_total=len(snapshot.users),
                users_added=plan.users_added,
                users_updated=plan.users_updated,
                users_removed=plan.users_removed,
                memberships_added=plan.memberships_added,
                memberships_removed=plan.memberships_removed,
                duration_seconds=round(time.perf_counter() - started, 3),
                missing_groups=tuple(plan.missing_groups),
            )
            await self._finish(operator, due_at, completed, uow)
        log.info(
            "directory synced", operator_id=operator, trigger=trigger, added=plan.users_added,
            updated=plan.users_updated, removed=plan.users_removed, changes=len(plan.changes),
            missing_groups=[missing.group for missing in plan.missing_groups],
        )

    async def _fetch(self, parameters: DirectoryParameters, password: str) -> Snapshot:
        return await asyncio.to_thread(self.fetch, parameters, password)

    async def _finish(self, operator: str, due_at, event, uow=None) -> None:
        """Records the outcome and publishes it; a sync asked for meanwhile stays due."""
        if uow is None:
            async with self.units() as own:
                return await self._finish(operator, due_at, event, own)
        link = await uow.session.get(DirectoryLink, operator)
        if link is not None:
            link.last_sync_at = now()
            link.last_sync_ok = isinstance(event, DirectorySyncCompleted)
            link.last_error = getattr(event, "reason", "")
            if _same_time(link.next_sync_at, due_at):
                self._make_due(link, "schedule", "", None, at=now() + self.interval)
        uow.publish(event)
        await uow.commit()

    @staticmethod
    def _make_due(link: DirectoryLink, trigger: str, correlation_id: str, causation_id: str | None, at=None) -> None:
        link.next_sync_at = at or now()
        link.pending_trigger = trigger
        link.pending_correlation_id = correlation_id
        link.pending_causation_id = causation_id


def _same_time(a, b) -> bool:
    strip = lambda moment: moment.replace(tzinfo=None) if moment is not None else None  # noqa: E731 (SQLite drops tz)
    return strip(a) == strip(b)

