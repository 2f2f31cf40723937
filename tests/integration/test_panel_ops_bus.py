"""The panel's operations adapters on the locked-down bus (a real nats-server with the generated
permissions, over TLS), connected as the panel: the bus's health lists every consumer's backlog and
the dead letters with their reasons, and the audit log it writes is read back newest first."""

from types import SimpleNamespace

import pytest
from nats.js.api import ConsumerConfig

from contracts.subjects import STREAM, dead_letter
from runtime import dead_letters
from runtime.connection import connect_options
from runtime.permissions import inbox_prefix
from services.panel.adapters.audit import BusAuditor
from services.panel.adapters.bus import DeadLetter, StreamWatch
from tests.integration.test_bus_permissions import connect, locked_bus, with_stream  # noqa: F401

pytestmark = pytest.mark.integration

CONSUMER = "configurator-config-submitted"


async def as_the_panel(locked_bus):
    """The panel's connection and the options it reads the stream with, as bootstrap.py makes them."""
    server, ca = locked_bus
    connection = await connect(locked_bus, "panel")
    options = connect_options("panel", "panel-password", str(ca), inbox_prefix("panel"))
    return connection, SimpleNamespace(broker=SimpleNamespace(connection=connection)), server.url, options


async def test_the_panel_reads_each_consumers_backlog_and_the_dead_letters_with_their_reasons(locked_bus):
    admin = await with_stream(locked_bus)
    js = admin.jetstream()
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=CONSUMER, filter_subject="config.submitted"))
    for _ in range(3):
        await js.publish("config.submitted", b"{}")
    headers = {dead_letters.CONSUMER: CONSUMER, dead_letters.REASON: "RuntimeError: the hypervisor said no"}
    parked = await js.publish(dead_letter("config.submitted"), b'{"operator_id": "acme", "correlation_id": "d-1"}', headers=headers)
    connection, bus, url, options = await as_the_panel(locked_bus)
    watch = StreamWatch(bus, url, options)

    health = await watch.health()
    letters = await watch.dead_letters()

    assert [(c.name, c.waiting, c.lagging) for c in health.consumers] == [(CONSUMER, 3, False)]
    assert health.dead_letters == 1 and health.stored_messages == 4
    assert letters == [DeadLetter(parked.seq, "config.submitted", CONSUMER, "RuntimeError: the hypervisor said no", "acme", "d-1")]
    await connection.close()
    await admin.close()


async def test_what_the_panel_writes_to_the_audit_log_it_reads_back_newest_first(locked_bus):
    connection, bus, url, options = await as_the_panel(locked_bus)
    auditor = BusAuditor(bus, url, options)

    await auditor.record("ann@acme.example", "login", "acme", client="10.0.0.1")
    await auditor.record("x@acme.example", "login", "", "refused", reason="wrong e-mail address or password")
    await auditor.record("ann@acme.example", "config.submitted", "acme", deployment="d1", revision="1", via="page")

    newest = await auditor.newest()
    logins = await auditor.newest(action="login")
    anns = await auditor.newest(actor="ann@acme.example")

    assert [(r.action, r.outcome) for r in newest] == [("config.submitted", "ok"), ("login", "refused"), ("login", "ok")]
    assert [r.actor for r in logins] == ["x@acme.example", "ann@acme.example"]
    assert [r.action for r in anns] == ["config.submitted", "login"]
    await connection.close()
