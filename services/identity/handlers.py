"""account.requested -> account.created (find or create; the password never leaves as a value)."""

import secrets

from contracts.commands import AccountRequested
from contracts.events import AccountCreated
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitOfWork

from .adapters.store import Account, Accounts

PRODUCER = "identity"
PASSWORD_READERS = ("orchestrator", "panel")
log = logs.get(PRODUCER)


def generate_password() -> str:
    return secrets.token_urlsafe(24)


async def create_account(command: AccountRequested, uow: UnitOfWork, secrets_store: Secrets) -> None:
    accounts = Accounts(uow.session)
    account = await accounts.get(command.resource_id)
    if account is None:
        password_ref = await secrets_store.put(uow.session, generate_password(), PASSWORD_READERS)
        account = Account(
            resource_id=command.resource_id,
            operator_id=command.operator_id,
            service=command.service,
            username=command.username,
            email=command.email,
            display_name=command.display_name,
            password_ref=password_ref,
        )
        accounts.add(account)
        log.info("admin account created", service=command.service, username=command.username)
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
