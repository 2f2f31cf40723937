"""Identity's composition root: the directory (OpenLDAP when configured, else the embedded one in
this service's database), the secret store, handlers, responders and the sync scheduler."""

from functools import partial

from contracts.commands import (
    AccountDeletionRequested,
    AccountRequested,
    DirectoryRemovalRequested,
    DirectorySyncRequested,
    SshKeyDeletionRequested,
    SshKeyRequested,
)
from contracts.requests import DirectoryConnectionRequest, SecretRequest
from contracts.subjects import DIRECTORY_CHECK, DIRECTORY_CONNECT, secret_get
from runtime import logs, secrets
from runtime.bus import Bus
from runtime.patience import Patient
from runtime.secrets import Secrets
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.db_directory import DbEntries
from .adapters.external import fetch_snapshot
from .adapters.ldap import LdapEntries
from .adapters.store import SECRETS, Base
from .directory import Directory
from .domain.entries import DirectoryUnavailable
from .domain.tree import Tree
from .secret_access import secret_responder
from .settings import Settings
from .syncing import Syncer


def secret_store(settings: Settings) -> Secrets:
    return secrets.secret_store("identity", SECRETS, settings)


def directories(settings: Settings):
    """session -> Directory: the embedded one works in the caller's transaction; the provider's LDAP
    server is waited for while it cannot be reached (a restart), each operation tried again."""
    tree = Tree(settings.ldap_base_dn)
    if settings.ldap_url:
        entries = LdapEntries(settings.ldap_url, settings.ldap_bind_dn, settings.ldap_bind_password.get_secret_value(), settings.ldap_timeout_seconds)
        ldap = Patient(Directory(entries, tree), settings.patience(), DirectoryUnavailable, logs.get("identity"))
        return lambda session: ldap
    return lambda session: Directory(DbEntries(session), tree)


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        secrets_store = secret_store(settings)
        await secrets_store.reencrypt_after_key_change(units.database.session)
        directory = directories(settings)
        fetch = partial(fetch_snapshot, timeout=settings.ldap_timeout_seconds)
        syncer = Syncer(units, directory, secrets_store, fetch, settings.sync_interval_seconds, settings.sync_poll_seconds)
        stores = dict(secrets_store=secrets_store, directories=directory)
        bus.on(AccountRequested, partial(handlers.create_account, **stores))
        bus.on(AccountDeletionRequested, partial(handlers.delete_account, **stores))
        bus.on(SshKeyRequested, partial(handlers.create_ssh_key, secrets_store=secrets_store))
        bus.on(SshKeyDeletionRequested, partial(handlers.delete_ssh_key, secrets_store=secrets_store))
        bus.on(DirectorySyncRequested, partial(handlers.request_sync, wake_sync=syncer.wake))
        bus.on(DirectoryRemovalRequested, partial(handlers.remove_directory, **stores))
        bus.respond(secret_get("identity"), SecretRequest, secret_responder(units, secrets_store))
        bus.respond(DIRECTORY_CHECK, DirectoryConnectionRequest, syncer.check)
        bus.respond(DIRECTORY_CONNECT, DirectoryConnectionRequest, syncer.connect)
        return [syncer.run_forever()]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
