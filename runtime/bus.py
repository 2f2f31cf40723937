"""A service's connection to the bus: idempotent durable consumers, the outbox relay, request/reply.

Handlers are plain functions `async def handle(message, uow)`: they change state through
`uow.session` and queue outgoing messages with `uow.publish`; the bus commits both together with
the id of the handled message, then acks. A failing handler is redelivered with backoff; after
`max_deliveries` JetStream's advisory has the message parked on the dead-letter subject with the
reason of its last failure (runtime.dead_letters), and the consumer carries on.
"""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, select

from contracts import MalformedMessage, Message, decode
from contracts.catalogue import durable_name
from contracts.subjects import STREAM, dead_letter

from . import logs, telemetry
from .connection import broker_security
from .dead_letters import CONSUMER as DEAD_LETTER_CONSUMER
from .dead_letters import DIED_WHILE_HANDLING, DeadLetters, ensure_streams
from .dead_letters import REASON as DEAD_LETTER_REASON
from .permissions import asker_of, inbox_prefix
from .server_trace import ensure_trace_stream, traced_operators
from .settings import ServiceSettings
from .stream import ensure_stream
from .uow import CORRELATION, TRACEPARENT, UnitOfWork, UnitsOfWork

M = TypeVar("M", bound=Message)
Handler = Callable[[M, UnitOfWork], Awaitable[None]]
R = TypeVar("R", bound=BaseModel)
FLUSH_MILLIS = 3000
"""How long a stopping service waits for its last spans to reach the OTLP endpoint."""

__all__ = ["DEAD_LETTER_CONSUMER", "DEAD_LETTER_REASON", "Bus"]

log = logs.get("bus")


class RequestFailed(Exception):
    """A request/reply responder answered with an error instead of a reply."""

    def __init__(self, subject: str, error: str) -> None:
        super().__init__(f"{subject}: {error}")
        self.error = error


def _error_of(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return "the reply could not be read"


async def _log_bus_error(error: Exception) -> None:
    """Errors the server reports on the connection, e.g. a permissions violation."""
    log.error("bus error", error=str(error))


class Bus:
    def __init__(self, service: str, settings: ServiceSettings, units: UnitsOfWork) -> None:
        self.service = service
        self.settings = settings
        self.units = units
        self.metrics = telemetry.Metrics(service)
        # faststream's per-message metrics only where an endpoint serves them (what they cost is
        # measured by bench/telemetry_overhead.py with both switched off and on).
        middlewares = [self.metrics.middleware()] if settings.metrics_port else []
        self.tracer_provider = telemetry.tracer_provider(service, settings.otlp_endpoint) if settings.tracing_enabled else None
        if self.tracer_provider:
            middlewares.insert(0, telemetry.telemetry_middleware(self.tracer_provider))
        self.broker = NatsBroker(
            settings.nats_url,
            logger=None,
            max_reconnect_attempts=-1,
            # A clean stop waits this long for in-flight work; what is left unacknowledged is
            # delivered again, so nothing is lost by not waiting longer.
            drain_timeout=5,
            middlewares=middlewares,
            inbox_prefix=inbox_prefix(service),
            security=broker_security(settings.nats_user, settings.nats_password, settings.nats_ca_file),
            error_cb=_log_bus_error,
        )
        self.consumers: list[str] = []
        self._wake_relay = asyncio.Event()
        units.on_publish = self.wake_relay
        units.server_trace = traced_operators(settings.server_trace_operators)
        self._relay: asyncio.Task | None = None
        self._capture: asyncio.Task | None = None
        self.dead_letters: DeadLetters | None = None

    # -- consuming -------------------------------------------------------------------------

    def on(self, model: type[M], handler: Handler) -> None:
        """Handle every `model` message exactly once (per this service)."""
        durable = durable_name(self.service, model.subject())
        self.consumers.append(durable)

        async def consume(msg: NatsMessage) -> None:
            await self._consume(msg, model, handler, durable)

        self._pull(model.subject(), durable, consume)

    def on_dead_letter(self, model: type[M], handler: Callable[..., Awaitable[None]]) -> None:
        """Hear, once each, the `model` commands their owner gave up on (parked on `dlq.<subject>`):
        `handler(command, uow, reason=...)`. A dead letter that is no `model` (it could not be read)
        is passed over: no one waits for its answer."""
        subject = dead_letter(model.subject())
        durable = durable_name(self.service, subject)

        async def consume(msg: NatsMessage) -> None:
            try:
                readable = isinstance(decode(msg.body), model)
            except MalformedMessage:
                readable = False
            if not readable:
                await msg.ack()
                return
            reason = (msg.headers or {}).get(DEAD_LETTER_REASON, "no reason was given")
            await self._consume(msg, model, partial(handler, reason=reason), durable)

        self._pull(subject, durable, consume)

    def _pull(self, subject: str, durable: str, consume: Callable[[NatsMessage], Awaitable[None]]) -> None:
        self.broker.subscriber(
            subject,
            stream=JStream(STREAM, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=16, timeout=1.0),
            inbox_prefix=f"{inbox_prefix(self.service)}.".encode(),
            config=ConsumerConfig(
                ack_wait=self.settings.ack_wait_seconds, max_deliver=self.settings.max_deliveries
            ),
            ack_policy=AckPolicy.MANUAL,
            title=f"{durable}:consume",
        )(consume)

    async def _consume(self, msg, model: type[M], handler: Handler, consumer: str) -> None:
        metadata = msg.raw_message.metadata
        deliveries, sequence = metadata.num_delivered, metadata.sequence.stream
        telemetry.annotate(service=self.service, consumer=consumer, stream_sequence=sequence, deliveries=deliveries)
        try:
            message = decode(msg.body)
            if not isinstance(message, model):
                raise MalformedMessage(f"a {message.type} message on {model.subject()}")
        except MalformedMessage as exc:
            await self.dead_letters.park(consumer, sequence, msg.raw_message.subject, msg.body, str(exc))
            await msg.reject()
            return
        telemetry.annotate(correlation_id=message.correlation_id, causation_id=message.causation_id)
        last = deliveries >= self.settings.max_deliveries
        note = lambda reason: self.dead_letters.note(consumer, sequence, msg.raw_message.subject, msg.body, reason)  # noqa: E731
        with logs.bound(
            correlation_id=message.correlation_id,
            causation_id=message.causation_id,
            event_id=str(message.event_id),
            operator_id=message.operator_id,
            message_type=message.type,
        ):
            try:
                if last:
                    await note(DIED_WHILE_HANDLING)
                async with self._heartbeat(msg):
                    await self._handle_once(message, handler, consumer, msg.headers.get(TRACEPARENT), deliveries)
            except Exception as exc:  # any handler fault: redeliver; the last one is dead-lettered
                telemetry.failed(exc)
                self.metrics.handler_failures.labels(model.subject(), type(exc).__name__).inc()
                await note(f"{type(exc).__name__}: {exc}")
                if last:
                    log.error("handler failed for the last time", deliveries=deliveries, exc_info=True)
                    await msg.nack()
                else:
                    delay = self.settings.redelivery_backoff_seconds * 2 ** (deliveries - 1)
                    log.warning("handler failed; will retry", deliveries=deliveries, retry_in=delay, error=str(exc))
                    await msg.nack(delay=delay)
                return
        await msg.ack()

    @contextlib.asynccontextmanager
    async def _heartbeat(self, msg):
        """Tells JetStream the message is still being worked on, so it is not delivered twice at once."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.settings.ack_wait_seconds / 3)
                await msg.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()

    async def _handle_once(self, message: Message, handler: Handler, consumer: str, traceparent: str | None, deliveries: int) -> None:
        async with self.units(traceparent, deliveries) as uow:
            if await uow.already_processed(consumer, str(message.event_id)):
                log.info("duplicate ignored")
                return
            await handler(message, uow)
            await uow.mark_processed(consumer, str(message.event_id))
            await uow.commit()

    # -- publishing (outbox relay) ------------------------------------------------------------

    def wake_relay(self) -> None:
        self._wake_relay.set()

    async def relay_once(self, batch: int = 200) -> int:
        """Publish what the outbox holds, oldest first; returns how many were sent."""
        outbox = self.units.outbox
        async with self.units.database.session() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.id).limit(batch))).all()
            await session.commit()  # writers need not wait while the batch is published
            sent: list[int] = []
            try:
                for row in rows:  # one by one: the stream keeps the order they were written in
                    # Nats-Msg-Id: the stream drops a second copy; message_id: what tracing names the message by
                    headers = json.loads(row.headers) | {"Nats-Msg-Id": row.event_id, "message_id": row.event_id}
                    correlation_id = headers.pop(CORRELATION, None)
                    with telemetry.attached(headers):
                        await self.broker.publish(
                            row.payload, row.subject, headers=headers, correlation_id=correlation_id, stream=STREAM
                        )
                    sent.append(row.id)
            finally:  # what was sent goes in one transaction; sent again after a crash, the stream drops it by its id
                if sent:
                    await session.execute(delete(outbox).where(outbox.c.id.in_(sent)))
                    await session.commit()
        return len(rows)

    async def watch_lag(self, every: float = 5.0) -> None:
        """Keeps the consumer-lag and outbox gauges current (for the metrics endpoint)."""
        js = self.broker.connection.jetstream()
        while True:
            for durable in self.consumers:
                try:
                    info = await js.consumer_info(STREAM, durable)
                except Exception:  # not created yet, or the server is away: next round
                    continue
                self.metrics.consumer_pending.labels(durable).set(info.num_pending)
            async with self.units.database.session() as session:
                pending = (await session.execute(select(func.count()).select_from(self.units.outbox))).scalar_one()
            self.metrics.outbox_pending.set(pending)
            await asyncio.sleep(every)

    async def _relay_forever(self) -> None:
        while True:
            try:
                while await self.relay_once():
                    pass
            except Exception:
                log.warning("outbox relay failed; will retry", exc_info=True)
                await asyncio.sleep(1.0)
            try:
                await asyncio.wait_for(self._wake_relay.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self._wake_relay.clear()

    # -- request/reply (core NATS) ---------------------------------------------------------------

    def respond(self, subject: str, request_model: type[BaseModel], answer: Callable[[BaseModel], Awaitable[BaseModel]]) -> None:
        """Answer core NATS requests on `subject` (not stored in the stream)."""

        @self.broker.subscriber(subject, queue=f"{self.service}-responders", title=f"{subject}:respond")
        async def reply(msg: NatsMessage) -> bytes:
            try:
                request = request_model.model_validate_json(msg.body)
            except ValidationError as exc:
                return json.dumps({"error": f"bad request: {exc.errors()[0]['msg']}"}).encode()
            claimed = getattr(request, "requester", None)
            if claimed is not None and claimed != asker_of(msg.reply_to):
                log.warning("request refused: requester does not match its connection", subject=subject, requester=claimed)
                return json.dumps({"error": f"the request says it is from {claimed}, but its connection is not"}).encode()
            try:
                return (await answer(request)).model_dump_json().encode()
            except Exception as exc:  # the asker hears of it at once instead of waiting for its timeout
                log.error("request failed", subject=subject, error=type(exc).__name__, exc_info=True)
                return json.dumps({"error": f"{self.service} could not answer ({type(exc).__name__}); see its log"}).encode()

    async def request(self, subject: str, body: BaseModel, reply_model: type[R], timeout: float = 5.0) -> R:
        """The reply; RequestFailed when the responder could not answer."""
        response = await self.broker.request(body.model_dump_json().encode(), subject, timeout=timeout)
        try:
            return reply_model.model_validate_json(response.body)
        except ValidationError:
            raise RequestFailed(subject, _error_of(response.body)) from None

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.connect()
        js = self.broker.connection.jetstream()
        await ensure_stream(js)
        await ensure_streams(js)
        await ensure_trace_stream(js)
        self.dead_letters = DeadLetters(self.service, js, on_parked=lambda subject: self.metrics.dead_letters.labels(subject).inc())
        await self.broker.start()
        self._relay = asyncio.create_task(self._relay_forever(), name=f"{self.service}-outbox-relay")
        if self.consumers:
            self._capture = asyncio.create_task(self.dead_letters.capture_forever(self.consumers), name=f"{self.service}-dead-letters")

    async def stop(self) -> None:
        tasks = [task for task in (self._relay, self._capture) if task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.broker.stop()
        if self.tracer_provider:  # the last spans are exported now, not lost with the process
            await asyncio.to_thread(self.tracer_provider.force_flush, FLUSH_MILLIS)
