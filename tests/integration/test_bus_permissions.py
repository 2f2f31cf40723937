"""The locked-down bus: a real nats-server with the permissions generated from the catalogue, over
TLS. Each service may say only what it produces and hear only what it consumes."""

import asyncio

import nats
import pytest
from nats.js.api import StreamConfig

from contracts.catalogue import CATALOGUE, SERVICES, consumed_by, durable_name, produced_by, stream_subjects, watched_dead_letters
from contracts.subjects import STREAM
from runtime.connection import connect_options
from runtime.devca import ensure_dev_ca
from runtime.nats_server import NatsServer
from runtime.permissions import inbox_prefix, server_config

pytestmark = pytest.mark.integration

USERS = ("admin", "panel", "configurator", "orchestrator", "storage", "identity")


@pytest.fixture
def locked_bus(tmp_path):
    tls = ensure_dev_ca(tmp_path / "tls")
    config = tmp_path / "server.conf"
    config.write_text(
        server_config({user: f"{user}-password" for user in USERS}, {"cert_file": str(tls["cert"]), "key_file": str(tls["key"])})
    )
    server = NatsServer(tmp_path / "nats", config_file=config, tls=True).start()
    yield server, tls["ca"]
    server.stop()


async def connect(locked_bus, user: str, errors: list | None = None):
    server, ca = locked_bus

    async def record(error):
        if errors is not None:
            errors.append(str(error))

    options = connect_options(user, f"{user}-password", str(ca), inbox_prefix(user) if user != "admin" else "")
    return await nats.connect(server.url, error_cb=record, **options)


async def with_stream(locked_bus):
    admin = await connect(locked_bus, "admin")
    await admin.jetstream().add_stream(StreamConfig(name=STREAM, subjects=stream_subjects()))
    return admin


async def wait_for(errors: list, text: str) -> str:
    for _ in range(100):
        found = [e.lower() for e in errors if text.lower() in e.lower()]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no error mentioning {text!r}; got {errors}")


def not_owned(service: str) -> str:
    """A catalogued subject some other service produces."""
    return next(entry.subject for entry in CATALOGUE if entry.producer != service)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_may_publish_what_it_produces_and_is_refused_what_another_owns(locked_bus, service):
    admin = await with_stream(locked_bus)
    errors: list[str] = []
    connection = await connect(locked_bus, service, errors)
    for entry in produced_by(service):
        assert (await connection.jetstream().publish(entry.subject, b"{}")).stream == STREAM, entry.subject
    foreign = not_owned(service)
    with pytest.raises(Exception):
        await connection.jetstream().publish(foreign, b"{}", timeout=1)
    assert "permissions violation for publish" in await wait_for(errors, foreign)
    assert (await admin.jetstream().stream_info(STREAM)).state.messages == len(produced_by(service))
    await connection.close()
    await admin.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_is_refused_a_durable_consumer_on_what_it_does_not_consume(locked_bus, service):
    admin = await with_stream(locked_bus)
    errors: list[str] = []
    connection = await connect(locked_bus, service, errors)
    foreign = next(entry.subject for entry in CATALOGUE if service not in entry.consumers)
    durable = durable_name(service, foreign)
    with pytest.raises(Exception):
        await connection.jetstream().pull_subscribe(foreign, durable=durable, stream=STREAM)
    assert "permissions violation" in await wait_for(errors, durable)
    for entry in consumed_by(service):
        assert await connection.jetstream().pull_subscribe(entry.subject, durable=durable_name(service, entry.subject), stream=STREAM)
    await connection.close()
    await admin.close()


async def test_the_orchestrator_hears_the_dead_letters_of_its_own_commands_and_no_one_else_does(locked_bus):
    admin = await with_stream(locked_bus)
    watched = watched_dead_letters("orchestrator")
    orchestrator = await connect(locked_bus, "orchestrator")
    for subject in watched:
        assert await orchestrator.jetstream().pull_subscribe(subject, durable=durable_name("orchestrator", subject), stream=STREAM)
    errors: list[str] = []
    panel = await connect(locked_bus, "panel", errors)
    durable = durable_name("panel", watched[0])
    with pytest.raises(Exception):
        await panel.jetstream().pull_subscribe(watched[0], durable=durable, stream=STREAM)
    assert "permissions violation" in await wait_for(errors, durable)
    for connection in (orchestrator, panel, admin):
        await connection.close()


async def test_the_panel_is_refused_when_it_publishes_an_event_it_does_not_own(locked_bus):
    admin = await with_stream(locked_bus)
    errors: list[str] = []
    panel = await connect(locked_bus, "panel", errors)
    with pytest.raises(Exception):
        await panel.jetstream().publish("vm.provisioned", b"{}", timeout=1)
    assert "permissions violation for publish" in await wait_for(errors, "vm.provisioned")
    assert (await admin.jetstream().stream_info(STREAM)).state.messages == 0
    await panel.close()
    await admin.close()


async def test_a_service_is_refused_when_it_subscribes_outside_its_rights(locked_bus):
    errors: list[str] = []
    panel = await connect(locked_bus, "panel", errors)
    await panel.subscribe("vm.provisioned")
    assert "permissions violation for subscription" in await wait_for(errors, "vm.provisioned")
    await panel.subscribe("_INBOX_orchestrator.>")
    assert "permissions violation for subscription" in await wait_for(errors, "_INBOX_orchestrator")
    await panel.close()


async def test_a_service_cannot_read_a_stream_subject_it_does_not_consume_through_a_consumer(locked_bus):
    admin = await with_stream(locked_bus)
    errors: list[str] = []
    panel = await connect(locked_bus, "panel", errors)
    with pytest.raises(Exception):
        await panel.jetstream().pull_subscribe("bucket.created", durable="panel-bucket-created", stream=STREAM)
    assert "permissions violation" in await wait_for(errors, "panel-bucket-created")
    own = await panel.jetstream().pull_subscribe("config.rejected", durable="panel-config-rejected", stream=STREAM)
    assert own is not None
    await panel.close()
    await admin.close()


async def test_secret_look_ups_reach_their_owner_only_from_allowed_services(locked_bus):
    identity = await connect(locked_bus, "identity")

    async def answer(msg):
        await msg.respond(b'{"value": "s3cr3t"}')

    await identity.subscribe("secret.get.identity", cb=answer)
    orchestrator = await connect(locked_bus, "orchestrator")
    reply = await orchestrator.request("secret.get.identity", b"{}", timeout=2)
    assert reply.data == b'{"value": "s3cr3t"}'

    errors: list[str] = []
    storage = await connect(locked_bus, "storage", errors)
    with pytest.raises(Exception):
        await storage.request("secret.get.identity", b"{}", timeout=1)
    assert "permissions violation for publish" in await wait_for(errors, "secret.get.identity")
    for connection in (identity, orchestrator, storage):
        await connection.close()


async def test_the_bus_refuses_clients_without_tls_or_credentials(locked_bus):
    server, ca = locked_bus
    with pytest.raises(Exception):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, **connect_options(ca_file=str(ca)))
    with pytest.raises(Exception):
        await nats.connect(
            server.url.replace("tls://", "nats://"), allow_reconnect=False, max_reconnect_attempts=0, user="panel", password="panel-password"
        )


def test_the_compose_bus_configuration_is_generated_from_the_current_contracts():
    from pathlib import Path

    from runtime.permissions import COMPOSE_CONFIG, compose_server_config

    assert Path(COMPOSE_CONFIG).read_text() == compose_server_config(), (
        f"{COMPOSE_CONFIG} is stale: regenerate it with `python -m runtime.permissions`"
    )


async def test_the_server_traces_a_services_message_hop_by_hop_when_asked(locked_bus):
    from runtime.server_trace import TRACE_DEST, collect, ensure_trace_stream, render, trace_dest

    admin = await with_stream(locked_bus)
    await ensure_trace_stream(admin.jetstream())
    watcher = await admin.subscribe("config.submitted")
    await admin.flush()
    panel = await connect(locked_bus, "panel")
    await panel.jetstream().publish("config.submitted", b"{}", headers={TRACE_DEST: trace_dest("dep-1")})
    await panel.close()

    server, ca = locked_bus
    for _ in range(100):
        traces = await collect(server.url, "dep-1", connect_options("admin", "admin-password", str(ca)))
        if traces:
            break
        await asyncio.sleep(0.05)
    [trace] = traces
    assert trace.subject == "config.submitted"
    assert sorted(hop.kind for hop in trace.hops) == ["egress", "ingress", "stored"], "delivered to the one live subscription"
    assert trace.hops[0].kind == "ingress"
    shown = render(traces)
    assert any("stored" in line and f"in stream {STREAM} as config.submitted" in line for line in shown)
    assert any("egress" in line and "on config.submitted" in line for line in shown), shown
    await watcher.unsubscribe()
    await admin.close()
