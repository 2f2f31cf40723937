"""Reading the stream back: every stored message in order (or the live tail), a deployment's
messages, and the causal chain they form. Shared by `fedi trace` / `fedi events` and the panel's
trace page; only `stored` does I/O."""

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import MalformedMessage, Message, decode
from contracts.subjects import STREAM

from .uow import DELIVERY, HANDLING_STARTED


@dataclass(frozen=True)
class Stored:
    sequence: int
    subject: str
    data: bytes
    headers: dict[str, str]
    delivered: int = 1


async def stored(
    nats_url: str, subject: str = ">", follow: bool = False, idle: float = 2.0, options: dict | None = None,
    history: bool = False,
) -> AsyncIterator[Stored]:
    """Messages of the stream in order: from the first to the last stored (follow=False), or new ones
    as they come (follow=True), after every stored one with history=True, through one consumer so
    that nothing is missed or shown twice in between. `options` are nats.connect's (user, TLS, inbox
    prefix: see runtime.connection)."""
    connection = await nats.connect(nats_url, **(options or {}))
    try:
        js = connection.jetstream()
        info = await js.stream_info(STREAM)
        if not follow and info.state.messages == 0:
            return
        policy = DeliverPolicy.NEW if follow and not history else DeliverPolicy.ALL
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


@dataclass(frozen=True)
class Traced:
    sequence: int
    subject: str
    message: Message
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return self.message.occurred_at

    def as_dict(self) -> dict:
        return {"sequence": self.sequence, "subject": self.subject, **self.message.model_dump(mode="json")}


async def collect(nats_url: str, correlation_id: str, options: dict | None = None) -> list[Traced]:
    """Every stored message of that correlation id, in stream order."""
    found = []
    async for item in stored(nats_url, options=options):
        try:
            message = decode(item.data)
        except MalformedMessage:
            continue
        if message.correlation_id == correlation_id:
            found.append(Traced(item.sequence, item.subject, message, item.headers))
    return found


@dataclass(frozen=True)
class Link:
    """One event in the causal chain: how deep under its cause, and how long after the first event."""

    event: Traced
    depth: int
    offset_seconds: float

    @property
    def summary(self) -> str:
        return summary(self.event.message).strip()


def chain(events: list[Traced]) -> list[Link]:
    """Events in causal order: each right after the event that caused it, one level deeper."""
    if not events:
        return []
    by_id = {str(e.message.event_id): e for e in events}
    children: dict[str | None, list[Traced]] = defaultdict(list)
    for event in events:
        parent = event.message.causation_id
        children[parent if parent in by_id else None].append(event)
    start = min(e.at for e in events)
    links: list[Link] = []

    def walk(event: Traced, depth: int) -> None:
        links.append(Link(event, depth, (event.at - start).total_seconds()))
        for child in children[str(event.message.event_id)]:
            walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    return links


def render_tree(events: list[Traced]) -> list[str]:
    """One line per event, indented under the event that caused it, with time since the first."""
    return [
        f"{link.offset_seconds:+9.3f}s  {link.event.message.producer:<12} {'  ' * link.depth}{link.event.subject}"
        f"{summary(link.event.message)}"
        for link in chain(events)
    ]


def summary(message: Message) -> str:
    """The few words that say what a message is about: its step or resource and state, or a reason."""
    for field in ("step", "resource_id"):
        value = getattr(message, field, None)
        if value:
            state = getattr(message, "state", "")
            return f"  {value}{' ' + state if state else ''}"
    reason = getattr(message, "reason", None)
    return f"  {reason}" if reason else ""


@dataclass(frozen=True)
class Handling:
    """How the event came about: the handler of its cause waited this long after the cause was
    published, worked this long, and succeeded on this delivery of the cause (1: the first)."""

    waited_seconds: float
    worked_seconds: float
    delivery: int

    @property
    def redeliveries(self) -> int:
        return self.delivery - 1


def handling(event: Traced, cause: Traced | None) -> Handling | None:
    started = event.headers.get(HANDLING_STARTED)
    if cause is None or started is None:
        return None
    began = datetime.fromisoformat(started)
    return Handling(
        max((began - cause.at).total_seconds(), 0.0),
        max((event.at - began).total_seconds(), 0.0),
        int(event.headers.get(DELIVERY, "1")),
    )


def render_timeline(events: list[Traced]) -> list[str]:
    """The causal tree with, for each event, how long its handler waited and worked and whether its
    cause had to be delivered again; then the totals per service (each handling counted once)."""
    by_id = {str(e.message.event_id): e for e in events}
    lines, totals, seen = [], defaultdict(lambda: [0.0, 0.0, 0, 0]), set()
    for link in chain(events):
        event = link.event
        how = handling(event, by_id.get(str(event.message.causation_id)))
        timing = ""
        if how is not None:
            timing = f"   waited {how.waited_seconds:.3f}s, worked {how.worked_seconds:.3f}s"
            if how.redeliveries:
                timing += f"   REDELIVERED: handled on delivery {how.delivery} ({how.redeliveries} redelivery{'s' if how.redeliveries > 1 else ''})"
            key = (event.message.producer, event.message.causation_id, event.headers.get(HANDLING_STARTED))
            if key not in seen:
                seen.add(key)
                total = totals[event.message.producer]
                total[0] += how.waited_seconds
                total[1] += how.worked_seconds
                total[2] += 1
                total[3] += how.redeliveries
        lines.append(
            f"{link.offset_seconds:+9.3f}s  {event.message.producer:<12} {'  ' * link.depth}{event.subject}"
            f"{summary(event.message)}{timing}"
        )
    if totals:
        lines.append("")
        lines.append("per service: handlings, time waiting for delivery, time working, redeliveries")
        for service, (waited, worked, count, redelivered) in sorted(totals.items()):
            lines.append(f"  {service:<12} {count:>4}   waited {waited:8.3f}s   worked {worked:8.3f}s   redeliveries {redelivered}")
    return lines
