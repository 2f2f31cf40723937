"""Core NATS request/reply bodies (never stored in the stream)."""

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRequest(_Frozen):
    """Ask a secret's owner for its value. Only allowed callers get an answer."""

    ref: str = Field(description="The secret reference carried by an event, e.g. secret://identity/<id>.")
    requester: str = Field(description="The service asking.")


class SecretReply(_Frozen):
    value: str | None = None
    error: str | None = None
