"""`fedi dlq`: the dead letters — messages a consumer could not handle — to inspect, fix and replay."""

import hashlib
import json
from dataclasses import dataclass

import nats

from contracts import MalformedMessage, decode
from contracts.subjects import DEAD_LETTER_PREFIX, STREAM
from runtime.bus import DEAD_LETTER_CONSUMER, DEAD_LETTER_REASON
from runtime.server_trace import TRACE_DEST, ensure_trace_stream, trace_dest

from .streamread import stored


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    subject: str
    """The subject the message was meant for."""
    consumer: str
    reason: str
    data: bytes


async def dead_letters(nats_url: str, options: dict | None = None) -> list[DeadLetter]:
    return [
        DeadLetter(
            item.sequence,
            item.subject.removeprefix(DEAD_LETTER_PREFIX + "."),
            item.headers.get(DEAD_LETTER_CONSUMER, "?"),
            item.headers.get(DEAD_LETTER_REASON, "?"),
            item.data,
        )
        async for item in stored(nats_url, subject=f"{DEAD_LETTER_PREFIX}.>", options=options)
    ]


class ReplayRefused(ValueError):
    pass


async def replay(nats_url: str, sequence: int, body: bytes | None = None, options: dict | None = None, trace: bool = False) -> str:
    """Publishes the dead letter (or its corrected `body`) again on its original subject, then removes
    it from the dead letters. Refuses a body that is still not a valid message. With `trace`, the
    nats-server reports the replayed message's hops (runtime.server_trace)."""
    letter = next((d for d in await dead_letters(nats_url, options) if d.sequence == sequence), None)
    if letter is None:
        raise ReplayRefused(f"no dead letter #{sequence}")
    body = letter.data if body is None else body
    try:
        message = decode(body)
    except MalformedMessage as exc:
        raise ReplayRefused(f"still not a valid message: {exc}") from None
    if message.subject() != letter.subject:
        raise ReplayRefused(f"a {message.type} message cannot be replayed on {letter.subject}")
    connection = await nats.connect(nats_url, **(options or {}))
    try:
        js = connection.jetstream()
        digest = hashlib.sha256(body).hexdigest()[:16]
        headers = {"Nats-Msg-Id": f"replay-{sequence}-{digest}"}
        if trace:
            await ensure_trace_stream(js)
            headers[TRACE_DEST] = trace_dest(message.correlation_id)
        await js.publish(letter.subject, body, headers=headers)
        await js.delete_msg(STREAM, sequence)
    finally:
        await connection.close()
    return letter.subject


def pretty(data: bytes) -> str:
    try:
        return json.dumps(json.loads(data), indent=2, sort_keys=True)
    except ValueError:
        return data.decode(errors="replace")
