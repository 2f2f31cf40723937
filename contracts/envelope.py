"""The envelope every message carries, and how a message causes the next one."""

import builtins
from datetime import UTC, datetime
from typing import ClassVar, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


M = TypeVar("M", bound="Message")


class Message(BaseModel):
    """Base of every event and command. Subclasses fix `type` (= subject) and `version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[str] = "event"

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; also sent as Nats-Msg-Id so JetStream drops duplicates.")
    type: str = Field(description="The message type, equal to its subject.")
    version: int = Field(description="Schema version of this type; bumped on a breaking change, old versions are upcast on read.")
    occurred_at: datetime = Field(default_factory=utcnow, description="When it happened (UTC).")
    correlation_id: str = Field(description="The deployment or request this message belongs to.")
    causation_id: str | None = Field(default=None, description="event_id of the message that caused this one.")
    operator_id: str = Field(description="The operator whose resources this is about.")
    producer: str = Field(description="The service that produced it.")

    @classmethod
    def subject(cls) -> str:
        return cls.model_fields["type"].default

    @classmethod
    def current_version(cls) -> int:
        return cls.model_fields["version"].default

    def caused(self, message_cls: "builtins.type[M]", producer: str, **fields) -> "M":
        """The next message in this chain: same correlation and operator, caused by this one."""
        return message_cls(
            correlation_id=self.correlation_id,
            causation_id=str(self.event_id),
            operator_id=self.operator_id,
            producer=producer,
            **fields,
        )


class Command(Message):
    """Asks another service to do something (imperative name)."""

    kind: ClassVar[str] = "command"


