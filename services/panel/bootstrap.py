"""The panel's composition root."""

from runtime.bus import Bus
from runtime.http import serve_http
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from .adapters.store import Base
from .api import create_app
from .projections import HANDLERS
from .settings import Settings


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        for model, handler in HANDLERS.items():
            bus.on(model, handler)
        return [serve_http(create_app(units), settings.http_host, settings.http_port)]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
