"""Identity's composition root."""

from functools import partial

from contracts.commands import AccountRequested
from contracts.requests import SecretRequest
from contracts.subjects import secret_get
from runtime.bus import Bus
from runtime.secrets import SecretBox, Secrets
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.store import SECRETS, Base
from .settings import Settings


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        secrets_store = Secrets("identity", SECRETS, SecretBox(settings.secret_key))
        bus.on(AccountRequested, partial(handlers.create_account, secrets_store=secrets_store))
        bus.respond(secret_get("identity"), SecretRequest, secrets_store.responder(units.database.session))
        return []

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
