"""The bus on a real nats-server and a real SQLite database: each message handled once, failures
retried then parked, outgoing messages leaving only with a commit, secrets only to the allowed."""

import json
import re
from datetime import UTC, datetime
from uuid import uuid4

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from contracts import decode, encode
from contracts.events import ConfigRejected, ConfigSubmitted
from contracts.requests import SecretReply, SecretRequest
from contracts.subjects import CONFIG_REJECTED, CONFIG_SUBMITTED, STREAM, dead_letter, secret_get
from tests.conftest import ask_secret
from runtime.bus import DEAD_LETTER_REASON, Bus
from runtime.bus_health import bus_health
from runtime.db import Database
from runtime.event_chain import collect, render_timeline
from runtime.server_trace import collect as server_traces
from runtime.server_trace import traced_operators
from runtime.secrets import SecretBox, Secrets, secrets_table
from runtime.settings import ServiceSettings
from runtime.stream import ensure_stream
from runtime.tables import messaging_tables
from runtime.uow import UnitsOfWork

pytestmark = pytest.mark.integration

SERVICE = "testsvc"
CONSUMER = f"{SERVICE}-config-submitted"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def submission(revision: int = 1, **envelope) -> ConfigSubmitted:
    fields = {"correlation_id": f"dep-{uuid4()}", "operator_id": "acme", "producer": "panel"} | envelope
    return ConfigSubmitted(revision=revision, configuration={"domain": "example.org"}, **fields)


class Service:
    """A tiny service: the messaging tables, a table of what it saw, a secret store, and its bus."""

    def __init__(self, nats_url: str, database_url: str) -> None:
        self.nats_url = nats_url
        self.metadata = MetaData()
        messaging_tables(self.metadata)
        self.seen = Table(
            "seen",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False),
            Column("revision", Integer, nullable=False),
        )
        self.secrets_table = secrets_table(self.metadata)
        self.database = Database(database_url)
        self.units = UnitsOfWork(self.database, self.metadata)
        settings = ServiceSettings(nats_url=nats_url, max_deliveries=3, redelivery_backoff_seconds=0.05, service_name=SERVICE)
        self.bus = Bus(SERVICE, settings, self.units)
        self.nc = None
        self.started = False

    async def create_tables(self) -> None:
        async with self.database.engine.begin() as connection:
            await connection.run_sync(self.metadata.create_all)

    async def start(self) -> None:
        await self.bus.start()
        self.started = True

    @property
    def js(self):
        return self.nc.jetstream()

    async def publish(self, message_or_bytes, msg_id: str | None = None, headers: dict | None = None):
        data = message_or_bytes if isinstance(message_or_bytes, bytes) else encode(message_or_bytes)
        return await self.js.publish(
            CONFIG_SUBMITTED, data, stream=STREAM, headers={"Nats-Msg-Id": msg_id or str(uuid4()), **(headers or {})}
        )

    async def stored(self, subject: str) -> list:
        """Every message the stream holds on `subject`, oldest first."""
        info = await self.js.stream_info(STREAM)
        found = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await self.js.get_msg(STREAM, sequence)
            except NotFoundError:
                continue
            if message.subject == subject:
                found.append(message)
        return found

    async def rows(self, table: Table) -> list:
        async with self.database.session() as session:
            return (await session.execute(select(table))).all()

    async def count(self, table: Table) -> int:
        async with self.database.session() as session:
            return (await session.execute(select(func.count()).select_from(table))).scalar_one()

    async def acknowledged_up_to(self, sequence: int) -> bool:
        info = await self.js.consumer_info(STREAM, CONSUMER)
        return info.ack_floor.stream_seq >= sequence and info.num_ack_pending == 0

    async def record(self, event: ConfigSubmitted, uow) -> None:
        await uow.session.execute(insert(self.seen).values(event_id=str(event.event_id), revision=event.revision))


@pytest.fixture
async def service(nats_server, sqlite_url):
    svc = Service(nats_server.url, sqlite_url)
    await svc.create_tables()
    svc.nc = await nats.connect(nats_server.url)
    await ensure_stream(svc.js)
    yield svc
    if svc.started:
        await svc.bus.stop()
    await svc.nc.close()
    await svc.database.close()


# -- exactly once ----------------------------------------------------------------------------------


async def test_a_message_published_twice_under_different_msg_ids_is_handled_once(service, eventually):
    calls = []

    async def handle(event, uow):
        calls.append(event.event_id)
        await service.record(event, uow)

    service.bus.on(ConfigSubmitted, handle)
    await service.start()
    message = submission()

    await service.publish(message, msg_id="first")
    second = await service.publish(message, msg_id="second")

    await eventually(lambda: service.acknowledged_up_to(second.seq), "both copies acknowledged")
    assert calls == [message.event_id]
    assert [row.event_id for row in await service.rows(service.seen)] == [str(message.event_id)]
    assert await service.count(service.units.processed) == 1


async def test_the_same_msg_id_published_twice_is_stored_once(service):
    message = submission()

    first = await service.publish(message, msg_id=str(message.event_id))
    again = await service.publish(message, msg_id=str(message.event_id))

    assert again.duplicate and again.seq == first.seq
    assert len(await service.stored(CONFIG_SUBMITTED)) == 1


# -- failures --------------------------------------------------------------------------------------


async def test_a_handler_that_fails_twice_is_redelivered_and_then_succeeds(service, eventually):
    deliveries = []

    async def flaky(event, uow):
        deliveries.append(event.event_id)
        if len(deliveries) < 3:
            raise ConnectionError("identity provider unreachable")
        await service.record(event, uow)

    service.bus.on(ConfigSubmitted, flaky)
    await service.start()
    message = submission()

    published = await service.publish(message)

    await eventually(lambda: service.acknowledged_up_to(published.seq), "the third delivery acknowledged")
    assert deliveries == [message.event_id] * 3
    assert len(await service.rows(service.seen)) == 1
    assert await service.stored(dead_letter(CONFIG_SUBMITTED)) == []


async def test_a_message_whose_handler_always_fails_is_parked_with_the_reason_and_the_consumer_moves_on(service, eventually):
    attempts = {}

    async def fails_on_first_revision(event, uow):
        attempts[event.revision] = attempts.get(event.revision, 0) + 1
        if event.revision == 1:
            raise RuntimeError("the hypervisor said no")
        await service.record(event, uow)

    service.bus.on(ConfigSubmitted, fails_on_first_revision)
    await service.start()
    doomed = submission(revision=1)

    await service.publish(doomed)
    parked = await eventually(lambda: service.stored(dead_letter(CONFIG_SUBMITTED)), "the message parked on the dead-letter subject")
    await service.publish(submission(revision=2))
    await eventually(lambda: service.rows(service.seen), "the next message handled")

    assert attempts == {1: 3, 2: 1}
    assert len(parked) == 1
    assert decode(parked[0].data) == doomed
    assert parked[0].headers[DEAD_LETTER_REASON] == "RuntimeError: the hypervisor said no"


async def test_bus_health_counts_the_dead_letters_and_each_consumers_backlog(service, eventually):
    async def handle(event, uow):
        await service.record(event, uow)

    service.bus.on(ConfigSubmitted, handle)
    await service.start()
    await service.publish(b'{"type": "config.submitted"}')
    await service.publish(submission(revision=2))
    await eventually(lambda: service.rows(service.seen), "the good message handled")

    health = await eventually(lambda: _with_dead_letters(service), "the bad message counted as a dead letter")
    assert [(c.name, c.waiting) for c in health.consumers] == [(CONSUMER, 0)]
    assert not health.healthy


async def _with_dead_letters(service):
    health = await bus_health(service.js)
    return health if health.dead_letters == 1 else None


async def test_a_malformed_message_is_parked_at_once_and_the_consumer_keeps_going(service, eventually):
    handled = []

    async def handle(event, uow):
        handled.append(event.revision)
        await service.record(event, uow)

    service.bus.on(ConfigSubmitted, handle)
    await service.start()

    await service.publish(b'{"type": "config.submitted", "version": 1, "revision": "many"}')
    await service.publish(submission(revision=7))

    await eventually(lambda: service.rows(service.seen), "the well-formed message handled")
    parked = await eventually(lambda: service.stored(dead_letter(CONFIG_SUBMITTED)), "the malformed message parked")
    assert handled == [7]
    assert len(parked) == 1
    assert parked[0].data == b'{"type": "config.submitted", "version": 1, "revision": "many"}'
    assert "invalid config.submitted" in parked[0].headers[DEAD_LETTER_REASON]
    assert "revision" in parked[0].headers[DEAD_LETTER_REASON]


# -- publishing through the outbox -----------------------------------------------------------------


async def test_the_timeline_of_a_trace_shows_that_a_cause_was_delivered_again(service, nats_server, eventually):
    async def flaky(event, uow):
        uow.publish(event.caused(ConfigRejected, SERVICE, revision=event.revision, problems=()))
        if not flaky.failed:
            flaky.failed = True
            raise ConnectionError("identity provider unreachable")

    flaky.failed = False
    service.bus.on(ConfigSubmitted, flaky)
    await service.start()
    cause = submission()
    await service.publish(cause)
    await eventually(lambda: service.stored(CONFIG_REJECTED), "the handler's message in the stream")

    lines = render_timeline(await collect(nats_server.url, cause.correlation_id))
    [rejected] = [line for line in lines if "config.rejected" in line]
    assert "REDELIVERED: handled on delivery 2 (1 redelivery)" in rejected
    assert "waited" in rejected and "worked" in rejected
    assert any(line.strip().startswith(SERVICE) and "redeliveries 1" in line for line in lines)


async def test_only_the_chosen_operators_messages_are_traced_hop_by_hop_by_the_server(service, nats_server, eventually):
    async def answer(event, uow):
        uow.publish(event.caused(ConfigRejected, SERVICE, revision=event.revision, problems=()))

    service.units.server_trace = traced_operators("acme, initech")
    service.bus.on(ConfigSubmitted, answer)
    await service.start()
    await service.publish(submission(operator_id="acme", correlation_id="dep-acme"))
    await service.publish(submission(operator_id="globex", correlation_id="dep-globex"))

    await eventually(lambda: _at_least(service.stored(CONFIG_REJECTED), 2), "both answers in the stream")
    [traced] = await eventually(lambda: server_traces(nats_server.url, "dep-acme"), "the server's report on acme's answer")
    assert traced.subject == CONFIG_REJECTED and "stored" in [hop.kind for hop in traced.hops]
    assert await server_traces(nats_server.url, "dep-globex") == []


async def _at_least(found, count: int):
    found = await found
    return found if len(found) >= count else None


async def test_what_a_handler_publishes_reaches_the_stream_deduplicable_and_in_the_same_trace(service, eventually):
    sent = []

    async def answer(event, uow):
        reply = event.caused(ConfigRejected, SERVICE, revision=event.revision, problems=())
        uow.publish(reply)
        sent.append(reply)

    service.bus.on(ConfigSubmitted, answer)
    await service.start()
    cause = submission()

    await service.publish(cause, headers={"traceparent": TRACEPARENT})

    [stored] = await eventually(lambda: service.stored(CONFIG_REJECTED), "the handler's message in the stream")
    [reply] = sent
    assert decode(stored.data) == reply
    assert reply.causation_id == str(cause.event_id)
    assert stored.headers["Nats-Msg-Id"] == str(reply.event_id)
    assert re.fullmatch(rf"00-{TRACE_ID}-[0-9a-f]{{16}}-01", stored.headers["traceparent"])
    assert stored.headers["traceparent"] != TRACEPARENT
    await eventually(lambda: _empty(service), "the outbox emptied")


async def _empty(service) -> bool:
    return await service.count(service.units.outbox) == 0


async def test_a_handler_that_fails_publishes_nothing_and_changes_nothing(service, eventually):
    async def publishes_then_fails(event, uow):
        await service.record(event, uow)
        uow.publish(event.caused(ConfigRejected, SERVICE, revision=event.revision, problems=()))
        raise RuntimeError("failed after publishing")

    service.bus.on(ConfigSubmitted, publishes_then_fails)
    await service.start()

    await service.publish(submission())
    await eventually(lambda: service.stored(dead_letter(CONFIG_SUBMITTED)), "the message parked after its last attempt")

    assert await service.stored(CONFIG_REJECTED) == []
    assert await service.count(service.units.outbox) == 0
    assert await service.rows(service.seen) == []
    assert await service.count(service.units.processed) == 0


async def test_an_outbox_row_relayed_again_after_a_crash_is_stored_once(service):
    await service.bus.broker.connect()  # the relay alone, without the background relay racing it
    message = submission()
    row = {
        "event_id": str(message.event_id),
        "subject": CONFIG_SUBMITTED,
        "payload": encode(message),
        "headers": json.dumps({"traceparent": TRACEPARENT, "correlation_id": message.correlation_id}),
        "created_at": datetime.now(UTC),
    }

    async def put_in_outbox():
        async with service.database.session() as session:
            await session.execute(insert(service.units.outbox).values(row))
            await session.commit()

    await put_in_outbox()
    assert await service.bus.relay_once() == 1
    await put_in_outbox()  # the crash: published, but the delete never committed
    assert await service.bus.relay_once() == 1

    stored = await service.stored(CONFIG_SUBMITTED)
    assert len(stored) == 1
    assert decode(stored[0].data) == message
    assert await service.count(service.units.outbox) == 0
    await service.bus.broker.stop()


async def test_when_publishing_fails_mid_batch_what_was_sent_leaves_the_outbox_and_the_rest_follows_in_order(service, monkeypatch):
    await service.bus.broker.connect()  # the relay alone, without the background relay racing it
    messages = [submission() for _ in range(5)]
    async with service.database.session() as session:
        await session.execute(insert(service.units.outbox), [{
            "event_id": str(m.event_id), "subject": CONFIG_SUBMITTED, "payload": encode(m),
            "headers": json.dumps({"correlation_id": m.correlation_id}), "created_at": datetime.now(UTC),
        } for m in messages])
        await session.commit()
    publish, calls = service.bus.broker.publish, []

    async def fails_on_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise ConnectionError("nats: connection closed")
        return await publish(*args, **kwargs)

    monkeypatch.setattr(service.bus.broker, "publish", fails_on_the_third)
    with pytest.raises(ConnectionError):
        await service.bus.relay_once()
    assert await service.count(service.units.outbox) == 3, "the two sent are gone, the three not sent are kept"

    monkeypatch.setattr(service.bus.broker, "publish", publish)
    assert await service.bus.relay_once() == 3
    assert [decode(m.data) for m in await service.stored(CONFIG_SUBMITTED)] == messages
    assert await service.count(service.units.outbox) == 0
    await service.bus.broker.stop()


# -- secrets over request/reply --------------------------------------------------------------------


@pytest.fixture
async def secret_ref(service):
    store = Secrets(SERVICE, service.secrets_table, SecretBox("test key"))
    async with service.database.session() as session:
        ref = await store.put(session, "hunter2", allowed=("orchestrator",))
        await session.commit()
    service.bus.respond(secret_get(SERVICE), SecretRequest, store.responder(service.database.session))
    await service.start()
    return ref


async def ask(service, ref: str, requester: str) -> SecretReply:
    return await ask_secret(service.nats_url, {}, ref, requester, owner=SERVICE)


async def test_a_service_claiming_to_be_another_gets_nothing(service, secret_ref):
    """The owner believes the reply inbox (which the locked-down bus gives each service alone), not the claim."""
    reply = await service.bus.request(secret_get(SERVICE), SecretRequest(ref=secret_ref, requester="orchestrator"), SecretReply)
    assert reply.value is None and "its connection is not" in reply.error


async def test_an_allowed_service_gets_the_secret(service, secret_ref):
    assert await ask(service, secret_ref, "orchestrator") == SecretReply(value="hunter2")


async def test_a_service_not_allowed_gets_an_error_and_no_value(service, secret_ref):
    reply = await ask(service, secret_ref, "panel")

    assert reply.value is None
    assert reply.error == "panel may not read this secret"


async def test_an_unknown_secret_gets_an_error(service, secret_ref):
    for ref in (f"secret://{SERVICE}/{uuid4()}", "secret://someone-else/1", "hunter2"):
        reply = await ask(service, ref, "orchestrator")
        assert (reply.value, reply.error) == (None, "no such secret")


async def test_secrets_are_stored_encrypted(service, secret_ref):
    [row] = await service.rows(service.secrets_table)

    assert b"hunter2" not in row.ciphertext
