"""Core NATS request/reply bodies (never stored in the stream)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .directory import DirectoryParameters, DirectoryProblemKind
from .resources import Change, Problem, Resource


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRequest(_Frozen):
    """Ask a secret's owner for its value. Only allowed callers get an answer."""

    ref: str = Field(description="The secret reference carried by an event, e.g. secret://identity/<id>.")
    requester: str = Field(description="The service asking.")


class SecretReply(_Frozen):
    value: str | None = None
    error: str | None = None


class PlanPreviewRequest(_Frozen):
    """What would this configuration do? Computed by the configurator without side effects."""

    operator_id: str
    configuration: dict[str, Any]


class PlanPreviewReply(_Frozen):
    resources: tuple[Resource, ...] = ()
    changes: tuple[Change, ...] = ()
    problems: tuple[Problem, ...] = Field(default=(), description="Set when the configuration is refused.")


class DirectoryConnectionRequest(_Frozen):
    """The operator's LDAP connection, on `directory.check` (test only) or `directory.connect` (test,
    keep, sync). Request/reply only: the bind password never enters the stream."""

    operator_id: str
    parameters: DirectoryParameters
    bind_password: str = Field(description="Kept encrypted by identity, readable by identity only.")


class DirectoryConnectionReply(_Frozen):
    ok: bool
    problem: DirectoryProblemKind | None = Field(default=None, description="Set when the check failed; nothing was changed.")
    error: str | None = Field(default=None, description="What is wrong, in plain words.")
    users: int = 0
    groups: int = 0
