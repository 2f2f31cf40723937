"""Reading the stream from the command line: every stored message, or the live tail."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts.subjects import STREAM


@dataclass(frozen=True)
class Stored:
    sequence: int
    subject: str
    data: bytes
    headers: dict[str, str]
    delivered: int = 1


async def stored(nats_url: str, subject: str = ">", follow: bool = False, idle: float = 2.0) -> AsyncIterator[Stored]:
    """Messages of the stream in order (from the first with follow=False, new ones with follow=True)."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        info = await js.stream_info(STREAM)
        if not follow and info.state.messages == 0:
            return
        policy = DeliverPolicy.NEW if follow else DeliverPolicy.ALL
        subscription = await js.subscribe(
            subject, stream=STREAM, ordered_consumer=True, config=ConsumerConfig(deliver_policy=policy)
        )
        last = info.state.last_seq
        while True:
            try:
                msg = await subscription.next_msg(timeout=None if follow else idle)
            except TimeoutError:
                return
            sequence = msg.metadata.sequence.stream
            yield Stored(sequence, msg.subject, msg.data, dict(msg.headers or {}))
            if not follow and sequence >= last:
                return
    finally:
        await connection.close()
