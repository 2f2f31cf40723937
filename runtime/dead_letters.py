"""Dead letters captured through JetStream's max-deliveries advisories.

A consumer that fails leaves a failure note (the reason, and the message itself) on
`failures.<service>.<consumer>.<sequence>` and naks. On the last delivery it leaves a note before
handling, so a message whose handling kills the process each time still has one. Once the consumer
has used its deliveries, JetStream publishes a max-deliveries advisory; a stream keeps those, and the
service's capturer parks the message on `dlq.<subject>` with the reason of its last failure.
"""

import asyncio
import json

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from nats.errors import TimeoutError as NatsTimeout

from contracts.subjects import STREAM, dead_letter

from . import logs

ADVISORIES = "FEDI_ADVISORIES"
FAILURES = "FEDI_FAILURES"
MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
FAILURE_PREFIX = "failures"
WEEK = 7 * 24 * 3600

REASON = "Fedi-Dead-Letter-Reason"
CONSUMER = "Fedi-Dead-Letter-Consumer"
SUBJECT = "Fedi-Dead-Letter-Subject"
DIED_WHILE_HANDLING = "the service stopped (or stopped answering) while handling it, on every delivery"

log = logs.get("dead-letters")


def advisory_subject(consumer: str) -> str:
    return f"{MAX_DELIVERIES}.{STREAM}.{consumer}"


def failure_subject(service: str, consumer: str, sequence: int) -> str:
    return f"{FAILURE_PREFIX}.{service}.{consumer}.{sequence}"


def capturer_name(service: str) -> str:
    return f"{service}-dead-letters"


def stream_configs() -> list[StreamConfig]:
    return [
        StreamConfig(name=ADVISORIES, subjects=[f"{MAX_DELIVERIES}.{STREAM}.>"], storage=StorageType.FILE, max_age=WEEK),
        StreamConfig(
            name=FAILURES,
            subjects=[f"{FAILURE_PREFIX}.>"],
            storage=StorageType.FILE,
            max_age=WEEK,
            max_msgs_per_subject=1,
            allow_direct=True,
        ),
    ]


async def ensure_streams(js: JetStreamContext) -> None:
    for config in stream_configs():
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)


class DeadLetters:
    """One service's side: failure notes for its consumers, and the capture of their dead letters."""

    def __init__(self, service: str, js: JetStreamContext, on_parked=None) -> None:
        self.service = service
        self.js = js
        self.on_parked = on_parked or (lambda subject: None)

    async def note(self, consumer: str, sequence: int, subject: str, data: bytes, reason: str) -> None:
        headers = {REASON: reason[:2000], CONSUMER: consumer, SUBJECT: subject}
        await self.js.publish(failure_subject(self.service, consumer, sequence), data, headers=headers)

    async def park(self, consumer: str, sequence: int, subject: str, data: bytes, reason: str) -> None:
        """Put the message on the dead-letter subject (at most once per consumer and sequence)."""
        log.error("message parked on the dead-letter subject", reason=reason, subject=subject, consumer=consumer)
        headers = {REASON: reason[:2000], CONSUMER: consumer, "Nats-Msg-Id": f"dlq-{consumer}-{sequence}"}
        await self.js.publish(dead_letter(subject), data, headers=headers, stream=STREAM)
        self.on_parked(subject)

    async def capture_forever(self, consumers: list[str], batch: int = 16) -> None:
        name = capturer_name(self.service)
        config = ConsumerConfig(
            name=name,
            durable_name=name,
            filter_subjects=[advisory_subject(consumer) for consumer in consumers],
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,
        )
        await self.js.add_consumer(ADVISORIES, config)
        subscription = await self.js.pull_subscribe_bind(name, stream=ADVISORIES)
        try:
            while True:
                try:
                    advisories = await subscription.fetch(batch, timeout=5)
                except NatsTimeout:
                    continue
                for advisory in advisories:
                    try:
                        await self._capture(json.loads(advisory.data))
                    except Exception:
                        log.warning("dead letter not captured yet; will retry", exc_info=True)
                        await advisory.nak(delay=1.0)
                        await asyncio.sleep(0.2)
                    else:
                        await advisory.ack()
        finally:
            # Left subscribed, a fetch cut short keeps the connection from draining when the service stops.
            await subscription.unsubscribe()

    async def _capture(self, advisory: dict) -> None:
        consumer, sequence = advisory["consumer"], advisory["stream_seq"]
        try:
            note = await self.js.get_msg(FAILURES, subject=failure_subject(self.service, consumer, sequence), direct=True)
        except NotFoundError:
            log.error("a message used up its deliveries but left no failure note", consumer=consumer, sequence=sequence)
            return
        headers = note.headers or {}
        await self.park(consumer, sequence, headers[SUBJECT], note.data or b"", headers.get(REASON, "?"))
