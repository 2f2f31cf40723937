"""Identity's handlers: accounts and SSH keys on request, on-demand syncs, an operator's removal.
Passwords and private keys never leave as values: events carry secret references."""

from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import (
    AccountDeletionRequested,
    AccountRequested,
    DirectoryRemovalRequested,
    DirectorySyncRequested,
    SshKeyDeletionRequested,
    SshKeyRequested,
)
from contracts.events import AccountCreated, AccountDeleted, AccountFailed, DirectoryRemoved, DirectorySyncFailed, SshKeyCreated, SshKeyDeleted
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitOfWork

from .adapters.store import KINDS, DirectoryLink, SecretReveal, SshKey, now, of_operator
from .directory import Directory
from .domain.entries import DirectoryError, DirectoryUnavailable
from .domain.passwords import generate_password
from .domain.sshkeys import generate_key_pair

PRODUCER = "identity"
READERS = {"admin": ("orchestrator", "panel"), "smtp": ("orchestrator",), "reader": ("orchestrator",)}
"""Who may fetch a generated password: the deployer writes each into the VM; the panel reveals an
admin password to the operator once. SMTP and directory reader passwords reach the VMs only through
the deployer."""
PRIVATE_KEY_READERS = ("orchestrator",)
log = logs.get(PRODUCER)

Directories = Callable[[AsyncSession], Directory]


async def create_account(command: AccountRequested, uow: UnitOfWork, secrets_store: Secrets, directories: Directories) -> None:
    model = KINDS[command.purpose]
    account = await uow.session.get(model, command.resource_id)
    if account is None:
        password = generate_password()
        try:
            dn = await directories(uow.session).put_account(
                command.operator_id, command.service, command.username, command.display_name, command.email, password, command.purpose
            )
        except DirectoryUnavailable:
            raise  # redelivered with backoff
        except DirectoryError as exc:
            log.error("account refused by the directory", service=command.service, username=command.username, reason=str(exc))
            uow.publish(command.caused(AccountFailed, PRODUCER, deployment_id=command.deployment_id, resource_id=command.resource_id, reason=str(exc)))
            return
        account = model(
            resource_id=command.resource_id,
            operator_id=command.operator_id,
            service=command.service,
            username=command.username,
            email=command.email,
            display_name=command.display_name,
            dn=dn,
            password_ref=await secrets_store.put(uow.session, password, READERS[command.purpose]),
        )
        uow.session.add(account)
        log.info("account created", service=command.service, username=command.username, purpose=command.purpose, dn=dn)
    uow.publish(
        command.caused(
            AccountCreated,
            PRODUCER,
            deployment_id=command.deployment_id,
            resource_id=command.resource_id,
            service=account.service,
            username=account.username,
            secret_ref=account.password_ref,
        )
    )


async def delete_account(command: AccountDeletionRequested, uow: UnitOfWork, secrets_store: Secrets, directories: Directories) -> None:
    purpose = command.purpose
    account = await uow.session.get(KINDS[purpose], command.resource_id)
    service, username = (account.service, account.username) if account else (command.service, command.username)
    await directories(uow.session).remove_account(command.operator_id, service, username, purpose)
    if account is not None:
        await _forget_secret(uow, secrets_store, account.password_ref)
        await uow.session.delete(account)
        log.info("account deleted", service=service, username=username, purpose=purpose)
    uow.publish(
        command.caused(
            AccountDeleted, PRODUCER, deployment_id=command.deployment_id, resource_id=command.resource_id, service=service, username=username
        )
    )


async def create_ssh_key(command: SshKeyRequested, uow: UnitOfWork, secrets_store: Secrets) -> None:
    key = await uow.session.get(SshKey, command.resource_id)
    if key is None:
        pair = generate_key_pair(command.name)
        key = SshKey(
            resource_id=command.resource_id,
            operator_id=command.operator_id,
            name=command.name,
            public_key=pair.public,
            private_key_ref=await secrets_store.put(uow.session, pair.private, PRIVATE_KEY_READERS),
        )
        uow.session.add(key)
        log.info("ssh key created", name=command.name)
    uow.publish(
        command.caused(
            SshKeyCreated,
            PRODUCER,
            deployment_id=command.deployment_id,
            resource_id=command.resource_id,
            public_key=key.public_key,
            secret_ref=key.private_key_ref,
        )
    )


async def delete_ssh_key(command: SshKeyDeletionRequested, uow: UnitOfWork, secrets_store: Secrets) -> None:
    key = await uow.session.get(SshKey, command.resource_id)
    if key is not None:
        await _forget_secret(uow, secrets_store, key.private_key_ref)
        await uow.session.delete(key)
        log.info("ssh key deleted", name=key.name)
    uow.publish(command.caused(SshKeyDeleted, PRODUCER, deployment_id=command.deployment_id, resource_id=command.resource_id))


async def request_sync(command: DirectorySyncRequested, uow: UnitOfWork, wake_sync: Callable[[], None]) -> None:
    link = await uow.session.get(DirectoryLink, command.operator_id)
    if link is None:
        reason = "no directory of theirs is connected: submit its connection parameters first"
        uow.publish(command.caused(DirectorySyncFailed, PRODUCER, trigger="demand", problem="not_connected", reason=reason))
        return
    link.next_sync_at = now()
    link.pending_trigger = "demand"
    link.pending_correlation_id = command.correlation_id
    link.pending_causation_id = str(command.event_id)
    uow.after_commit(wake_sync)


async def remove_directory(command: DirectoryRemovalRequested, uow: UnitOfWork, secrets_store: Secrets, directories: Directories) -> None:
    """Everything identity keeps for the operator: its subtree, accounts, SSH keys, directory link, secrets."""
    operator = command.operator_id
    session = uow.session
    entries_removed = await directories(session).remove_operator(operator)
    accounts = [row for model in KINDS.values() for row in await of_operator(session, model, operator)]
    keys = await of_operator(session, SshKey, operator)
    link = await session.get(DirectoryLink, operator)
    refs = [a.password_ref for a in accounts] + [k.private_key_ref for k in keys] + ([link.password_ref] if link else [])
    secrets_removed = 0
    for ref in refs:
        secrets_removed += await _forget_secret(uow, secrets_store, ref)
    for row in [*accounts, *keys, *([link] if link else [])]:
        await session.delete(row)
    log.info("operator removed from the directory", entries=entries_removed, accounts=len(accounts), secrets=secrets_removed)
    uow.publish(
        command.caused(
            DirectoryRemoved,
            PRODUCER,
            deployment_id=command.deployment_id,
            entries_removed=entries_removed,
            accounts_removed=len(accounts),
            ssh_keys_removed=len(keys),
            secrets_removed=secrets_removed,
            external_link_removed=link is not None,
        )
    )


async def _forget_secret(uow: UnitOfWork, secrets_store: Secrets, ref: str) -> int:
    await uow.session.execute(delete(SecretReveal).where(SecretReveal.ref == ref))
    return int(await secrets_store.delete(uow.session, ref))
