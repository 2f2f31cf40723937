"""The panel's composition root."""

import gc

from runtime import logs
from runtime.bus import Bus
from runtime.connection import connect_options
from runtime.http import serve_http
from runtime.permissions import inbox_prefix
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from .adapters.audit import BusAuditor
from .adapters.bus import BusDirectory, BusFleet, BusPlanner, IdentityVault, StreamTrail, StreamWatch
from .adapters.mail import SmtpMailer
from .adapters.store import Base
from .app import create_app
from .live import Changes, notifying
from .notices import NoticeMailer
from .projections import HANDLERS
from .settings import Settings
from .web.context import Context

log = logs.get("panel")


def mail_work(settings: Settings, units: UnitsOfWork, changes: Changes) -> list:
    """The notice mailer, when there is a mail server to send through."""
    if not settings.smtp_host:
        log.info("e-mail is off: no smtp_host is set, so operators see notices in the panel only")
        return []
    mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
                        settings.smtp_starttls, settings.smtp_timeout_seconds)
    return [NoticeMailer(units, mailer, settings).run_forever(changes)]


def project(bus: Bus) -> Changes:
    """Keeps the read models from the bus; what it returns is touched after each event's commit."""
    changes = Changes()
    for model, handler in HANDLERS.items():
        bus.on(model, notifying(handler, changes))
    return changes


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        changes = project(bus)
        options = connect_options(settings.nats_user, settings.nats_password, settings.nats_ca_file, inbox_prefix(settings.service_name))
        context = Context(
            units=units,
            settings=settings,
            planner=BusPlanner(bus, settings.preview_timeout_seconds),
            vault=IdentityVault(bus),
            trail=StreamTrail(settings.nats_url, options),
            changes=changes,
            fleet=BusFleet(bus, settings.preview_timeout_seconds),
            auditor=BusAuditor(bus, settings.nats_url, options),
            watch=StreamWatch(bus, settings.nats_url, options),
            directory=BusDirectory(bus, settings.directory_timeout_seconds),
        )
        app = create_app(context)
        # What start-up made (modules, models, routes) lives as long as the process: kept out of the
        # collector's full passes, which otherwise stop every page for tens of milliseconds.
        gc.collect()
        gc.freeze()
        return [serve_http(app, settings.http_host, settings.http_port), *mail_work(settings, units, changes)]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
