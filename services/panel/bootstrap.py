"""The panel's composition root."""

from runtime.bus import Bus
from runtime.connection import connect_options
from runtime.http import serve_http
from runtime.permissions import inbox_prefix
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from .adapters.bus import BusPlanner, IdentityVault, StreamTrail
from .adapters.store import Base
from .app import create_app
from .live import Changes, notifying
from .projections import HANDLERS
from .settings import Settings
from .web.context import Context


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        changes = Changes()
        for model, handler in HANDLERS.items():
            bus.on(model, notifying(handler, changes))
        context = Context(
            units=units,
            settings=settings,
            planner=BusPlanner(bus, settings.preview_timeout_seconds),
            vault=IdentityVault(bus),
            trail=StreamTrail(
                settings.nats_url,
                connect_options(settings.nats_user, settings.nats_password, settings.nats_ca_file, inbox_prefix(settings.service_name)),
            ),
            changes=changes,
        )
        return [serve_http(create_app(context), settings.http_host, settings.http_port)]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
