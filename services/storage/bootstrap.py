"""Storage's composition root."""

from functools import partial

from contracts.commands import BucketDeletionRequested, BucketRequested, StorageRemovalRequested
from contracts.requests import SecretRequest
from contracts.subjects import secret_get
from runtime import logs, secrets
from runtime.bus import Bus
from runtime.patience import Patient
from runtime.secrets import Secrets
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers, removal, usage
from .adapters.garage import GarageAdmin
from .adapters.garage_backend import GarageBackend
from .adapters.plain_s3 import PlainS3Backend
from .adapters.store import SECRETS, Base
from .domain import Backend, Unavailable
from .settings import Settings


def backend_of(settings: Settings) -> Backend:
    """The configured store, each call tried again while it is unavailable."""
    return Patient(_store_of(settings), settings.patience(), Unavailable, logs.get("storage"))


def _store_of(settings: Settings) -> Backend:
    if settings.backend == "s3":
        logs.get("storage").warning(
            "plain S3 backend: every bucket's service gets the one configured key; quotas are not enforced"
        )
        return PlainS3Backend(
            settings.s3_endpoint, settings.s3_region, settings.s3_access_key_id,
            settings.s3_secret_access_key.get_secret_value(),
        )
    admin = GarageAdmin(settings.garage_admin_url, settings.garage_admin_token.get_secret_value())
    return GarageBackend(admin, settings.s3_endpoint, settings.s3_region)


def secret_store(settings: Settings) -> Secrets:
    return secrets.secret_store("storage", SECRETS, settings)


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        secrets_store = secret_store(settings)
        await secrets_store.reencrypt_after_key_change(units.database.session)
        storage = handlers.Storage(backend_of(settings), secrets_store, settings.s3_endpoint, settings.s3_region)
        bus.on(BucketRequested, partial(handlers.provision_bucket, storage=storage))
        bus.on(BucketDeletionRequested, partial(handlers.delete_bucket, storage=storage))
        bus.on(StorageRemovalRequested, partial(removal.remove_operator, storage=storage))
        bus.respond(secret_get("storage"), SecretRequest, secrets_store.responder(units.database.session))
        if settings.usage_interval_seconds > 0:
            return [usage.report_usage_forever(units, storage, settings.usage_interval_seconds)]
        return []

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
