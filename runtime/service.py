"""Runs one service: logs, database and migrations, the bus, its background work, clean stop."""

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import prometheus_client
from sqlalchemy import MetaData

from . import logs
from .bus import Bus
from .db import Database
from .settings import ServiceSettings
from .uow import UnitsOfWork

Wire = Callable[[Bus, UnitsOfWork], Awaitable[list[Coroutine]]]
"""A service's composition root: registers its handlers on the bus, returns its background work."""


async def serve(settings: ServiceSettings, metadata: MetaData, migrations: Path, wire: Wire) -> None:
    name = settings.service_name
    logs.configure(name, settings.log_level)
    log = logs.get(name)
    database = Database(settings.sqlalchemy_url())
    await database.migrate(migrations)
    units = UnitsOfWork(database, metadata)
    bus = Bus(name, settings, units)
    background = await wire(bus, units)
    await bus.start()
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=bus.metrics.registry)
        background.append(bus.watch_lag())
    tasks = [asyncio.create_task(work) for work in background]
    log.info("service started", nats=settings.nats_url, database=database.engine.url.render_as_string(hide_password=True))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failed = asyncio.ensure_future(_first_failure(tasks))
    try:
        await asyncio.wait([asyncio.ensure_future(stop.wait()), failed], return_when=asyncio.FIRST_COMPLETED)
    finally:  # a signal, a background task that died, or this task cancelled: what was started stops
        failure = failed.result() if failed.done() else None
        failed.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.stop()
        await database.close()
    if failure is not None:
        log.error("service stopped after a failure", error=repr(failure))
        raise SystemExit(1)
    log.info("service stopped")


async def _first_failure(tasks: list[asyncio.Task]) -> BaseException | None:
    """Returns the exception of the first background task that dies (they should run forever)."""
    if not tasks:
        await asyncio.Event().wait()
    for finished in asyncio.as_completed(tasks):
        try:
            await finished
        except asyncio.CancelledError:
            continue
        except Exception as exc:
            return exc
    return None


def migrations_of(package_file: str) -> Path:
    return Path(package_file).parent / "migrations"
