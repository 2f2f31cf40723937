"""Storage's composition root."""

from functools import partial

from contracts.commands import BucketRequested
from contracts.requests import SecretRequest
from contracts.subjects import secret_get
from runtime.bus import Bus
from runtime.secrets import SecretBox, Secrets
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.garage import GarageAdmin
from .adapters.store import SECRETS, Base
from .settings import Settings


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        secrets_store = Secrets("storage", SECRETS, SecretBox(settings.secret_key))
        admin = GarageAdmin(settings.garage_admin_url, settings.garage_admin_token)
        bus.on(
            BucketRequested,
            partial(
                handlers.provision_bucket,
                admin=admin,
                secrets_store=secrets_store,
                endpoint=settings.s3_endpoint,
                region=settings.s3_region,
            ),
        )
        bus.respond(secret_get("storage"), SecretRequest, secrets_store.responder(units.database.session))
        return []

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
