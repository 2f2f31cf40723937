"""Reads a deployment's events back from the stream and shows how each caused the next."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts import MalformedMessage, Message, decode
from contracts.subjects import STREAM


@dataclass(frozen=True)
class Traced:
    sequence: int
    subject: str
    message: Message

    @property
    def at(self) -> datetime:
        return self.message.occurred_at

    def as_dict(self) -> dict:
        return {"sequence": self.sequence, "subject": self.subject, **self.message.model_dump(mode="json")}


async def collect(nats_url: str, correlation_id: str, timeout: float = 2.0) -> list[Traced]:
    """Every stored message of that correlation id, in stream order."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        info = await js.stream_info(STREAM)
        last = info.state.last_seq
        if info.state.messages == 0:
            return []
        subscription = await js.subscribe(
            ">", stream=STREAM, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        found = []
        while True:
            msg = await subscription.next_msg(timeout=timeout)
            try:
                message = decode(msg.data)
            except MalformedMessage:
                message = None
            if message is not None and message.correlation_id == correlation_id:
                found.append(Traced(msg.metadata.sequence.stream, msg.subject, message))
            if msg.metadata.sequence.stream >= last:
                break
        await subscription.unsubscribe()
        return found
    finally:
        await connection.close()


def render_tree(events: list[Traced]) -> list[str]:
    """One line per event, indented under the event that caused it, with time since the first."""
    by_id = {str(e.message.event_id): e for e in events}
    children: dict[str | None, list[Traced]] = defaultdict(list)
    for event in events:
        parent = event.message.causation_id
        children[parent if parent in by_id else None].append(event)
    start = min(e.at for e in events)
    lines: list[str] = []

    def walk(event: Traced, depth: int) -> None:
        offset = (event.at - start).total_seconds()
        lines.append(f"{offset:+9.3f}s  {event.message.producer:<12} {'  ' * depth}{event.subject}{_summary(event.message)}")
        for child in children[str(event.message.event_id)]:
            walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    return lines


def _summary(message: Message) -> str:
    for field in ("step", "resource_id"):
        value = getattr(message, field, None)
        if value:
            state = getattr(message, "state", "")
            return f"  {value}{' ' + state if state else ''}"
    reason = getattr(message, "reason", None)
    return f"  {reason}" if reason else ""
