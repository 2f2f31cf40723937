"""Reads a deployment's events back from the stream and shows how each caused the next."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from contracts import MalformedMessage, Message, decode

from .streamread import stored


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


async def collect(nats_url: str, correlation_id: str) -> list[Traced]:
    """Every stored message of that correlation id, in stream order."""
    found = []
    async for item in stored(nats_url):
        try:
            message = decode(item.data)
        except MalformedMessage:
            continue
        if message.correlation_id == correlation_id:
            found.append(Traced(item.sequence, item.subject, message))
    return found


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
        lines.append(f"{offset:+9.3f}s  {event.message.producer:<12} {'  ' * depth}{event.subject}{summary(event.message)}")
        for child in children[str(event.message.event_id)]:
            walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    return lines


def summary(message: Message) -> str:
    """The few words that say what a message is about: its step or resource and state, or a reason."""
    for field in ("step", "resource_id"):
        value = getattr(message, field, None)
        if value:
            state = getattr(message, "state", "")
            return f"  {value}{' ' + state if state else ''}"
    reason = getattr(message, "reason", None)
    return f"  {reason}" if reason else ""
