"""Revealing a service admin's password to its operator exactly once."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.bus import Vault
from .adapters.store import Credential, Panel, aware, now
from .web.context import Context


class NoSuchCredential(LookupError):
    pass


class AlreadyRevealed(Exception):
    def __init__(self, at: datetime) -> None:
        super().__init__(f"the password was shown once, at {at:%Y-%m-%d %H:%M} UTC")
        self.at = at


async def reveal_once(session: AsyncSession, vault: Vault, operator_id: str, service: str) -> tuple[Credential, str]:
    """The password of the operator's admin account on `service`, if it was never shown before.
    It is marked shown only once it was fetched, so a failed fetch can be tried again."""
    credential = await Panel(session).credential(operator_id, service)
    if credential is None:
        raise NoSuchCredential(f"no admin account on {service}")
    if credential.revealed_at is not None:
        raise AlreadyRevealed(aware(credential.revealed_at))
    await session.commit()  # hold no database lock while identity answers
    password = await vault.reveal(credential.secret_ref)
    moment = now()
    marked = await session.execute(
        update(Credential)
        .where(
            Credential.resource_id == credential.resource_id,
            Credential.secret_ref == credential.secret_ref,
            Credential.revealed_at.is_(None),
        )
        .values(revealed_at=moment)
    )
    if marked.rowcount != 1:  # another request revealed it meanwhile
        await session.rollback()
        raise AlreadyRevealed(moment)
    await session.commit()
    return credential, password


async def reveal_audited(context: Context, operator_id: str, service: str, actor: str, via: str) -> tuple[Credential, str]:
    """reveal_once, written to the audit log: who was shown which account's password, or refused it
    (never the password itself)."""
    try:
        async with context.units.database.session() as session:
            account, password = await reveal_once(session, context.vault, operator_id, service)
    except AlreadyRevealed:
        await context.auditor.record(actor, "credential.revealed", operator_id, "refused", service=service, reason="already shown once", via=via)
        raise
    await context.auditor.record(actor, "credential.revealed", operator_id, service=service, username=account.username, via=via)
    return account, password
