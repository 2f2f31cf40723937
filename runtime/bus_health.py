"""The bus's health as the provider's staff see it: each consumer's backlog and redeliveries, and the
dead letters waiting for someone (the panel's admin page and `fedi bus health` show it)."""

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import DEAD_LETTER_PREFIX, STREAM

LAGGING = 100
"""A consumer with more messages than this waiting is shown as lagging."""


@dataclass(frozen=True)
class ConsumerHealth:
    name: str
    waiting: int
    """Messages stored but not yet delivered to it."""
    in_flight: int
    """Delivered, not yet acknowledged (being handled, or about to be redelivered)."""
    redelivered: int

    @property
    def lagging(self) -> bool:
        return self.waiting > LAGGING


@dataclass(frozen=True)
class BusHealth:
    stored_messages: int
    consumers: tuple[ConsumerHealth, ...]
    dead_letters: int

    @property
    def healthy(self) -> bool:
        return self.dead_letters == 0 and not any(consumer.lagging for consumer in self.consumers)


async def bus_health(js: JetStreamContext) -> BusHealth:
    try:
        info = await js.stream_info(STREAM, subjects_filter=f"{DEAD_LETTER_PREFIX}.>")
    except NotFoundError:
        return BusHealth(0, (), 0)
    dead = sum((info.state.subjects or {}).values())
    consumers = [
        ConsumerHealth(c.name, c.num_pending or 0, c.num_ack_pending or 0, c.num_redelivered or 0)
        for c in await js.consumers_info(STREAM)
        if c.config.durable_name
    ]
    return BusHealth(info.state.messages, tuple(sorted(consumers, key=lambda c: c.name)), dead)
