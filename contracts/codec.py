"""Turning messages into bytes and back, upcasting old versions on read."""

import json
from collections.abc import Callable

from pydantic import ValidationError

from .catalogue import BY_TYPE
from .envelope import Message

Upcaster = Callable[[dict], dict]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(type, version) -> function turning a dict of that version into one of version + 1."""


class MalformedMessage(ValueError):
    """The bytes are not a message this system knows; they belong in the dead-letter subject."""


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def decode(data: bytes) -> Message:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedMessage("not a JSON object")
    kind = raw.get("type")
    model = BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise MalformedMessage(f"unknown message type {raw.get('type')!r}")
    raw = upcast(raw, model.current_version())
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(message)'}: {e['msg']}" for e in exc.errors())
        raise MalformedMessage(f"invalid {model.subject()}: {reasons}") from None


def upcast(raw: dict, target_version: int) -> dict:
    version = raw.get("version")
    if not isinstance(version, int) or version > target_version:
        raise MalformedMessage(f"unsupported version {version!r} of {raw.get('type')}")
    while version < target_version:
        step = UPCASTERS.get((raw["type"], version))
        if step is None:
            raise MalformedMessage(f"no upcaster from version {version} of {raw['type']}")
        raw = step(raw)
        version = raw["version"] = version + 1
    return raw
