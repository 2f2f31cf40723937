"""`fedi events tail`: the live traffic of the bus, a readable line per event (or JSON)."""

import json
from collections.abc import Callable

from contracts import MalformedMessage, Message, decode

from .streamread import Stored
from .tracing import summary


def matches(message: Message, operator: str | None, types: tuple[str, ...], deployment: str | None) -> bool:
    return (
        (operator is None or message.operator_id == operator)
        and (not types or any(message.type == t or message.type.startswith(t + ".") for t in types))
        and (deployment is None or message.correlation_id == deployment)
    )


def line(item: Stored, message: Message | None, as_json: bool) -> str:
    if message is None:
        reason = item.headers.get("Fedi-Dead-Letter-Reason", "not a message this system knows")
        return json.dumps({"sequence": item.sequence, "subject": item.subject, "malformed": reason}) if as_json else (
            f"#{item.sequence:<6} {item.subject}  (unreadable: {reason})"
        )
    if as_json:
        return json.dumps({"sequence": item.sequence, "subject": item.subject, **message.model_dump(mode="json")})
    when = message.occurred_at.strftime("%H:%M:%S.%f")[:-3]
    return (
        f"#{item.sequence:<6} {when}  {message.producer:<12} {message.type:<22} "
        f"{message.operator_id:<12} {message.correlation_id[:8]}{summary(message)}"
    )


async def tail(
    source, operator: str | None, types: tuple[str, ...], deployment: str | None, as_json: bool, emit: Callable[[str], None]
) -> None:
    """Prints every message from `source` (an async iterator of Stored) that passes the filters."""
    async for item in source:
        try:
            message = decode(item.data)
        except MalformedMessage:
            message = None
        if message is None or matches(message, operator, types, deployment):
            emit(line(item, message, as_json))
