"""The configurator's composition root."""

from functools import partial

from contracts.events import ConfigSubmitted
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.store import Base
from .domain.policy import Policy
from .settings import Settings


async def wire(bus: Bus, units: UnitsOfWork, policy: Policy | None = None) -> list:
    bus.on(ConfigSubmitted, partial(handlers.plan_submission, policy=policy or Policy()))
    return []


async def main(settings: Settings | None = None) -> None:
    await serve(settings or Settings(), Base.metadata, migrations_of(__file__), wire)
