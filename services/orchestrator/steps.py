"""What a step's action works with: its inputs, what it did before a crash (the checkpoint), and a
way to do a side effect so that the state is persisted right before and right after it."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from contracts import Message

from .adapters.store import Deployment, Step
from .crash import NEVER, CrashPoints

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    outputs: dict
    detail: str = "done"
    events: tuple[Callable[[dict], Message], ...] = ()
    """Builders of events to publish with the step's completion, given the deployment's envelope."""
    kept: bool = False
    """A deletion that kept the resource (its data) instead: it stays recorded, as kept."""
    swept: str | None = None
    """An operator-wide sweep's: the kind of resource none of the operator's is left of, whose records
    (a VM kept when its service was switched off) go with it."""


Persist = Callable[[dict, dict | None], Awaitable[None]]
"""Stores the checkpoint (and, when given, the outputs of a resource that exists only in part)."""


@dataclass
class StepContext:
    deployment: Deployment
    step: Step
    inputs: dict[str, dict]
    """Outputs of the resources it depends on, by resource id."""
    current: dict | None
    """What is recorded for this resource (from an earlier deployment, or in part from this one)."""
    kinds: dict[str, str] = field(default_factory=dict)
    """The kind of each input, by resource id."""
    checkpoint: dict = field(default_factory=dict)
    persist: Persist | None = None
    crash: CrashPoints = NEVER
    report: Callable[[str], Awaitable[None]] | None = None
    report_interval: float = 1.0
    _reported_at: float = 0.0

    @property
    def resource_id(self) -> str:
        return self.step.resource_id

    @property
    def spec(self) -> dict[str, Any]:
        return self.step.spec

    @property
    def action(self) -> str:
        return self.step.action

    def inputs_of(self, kind: str) -> dict[str, dict]:
        return {rid: outputs for rid, outputs in sorted(self.inputs.items()) if self.kinds.get(rid) == kind}

    async def note(self, facts: dict | None = None, partial: dict | None = None) -> None:
        self.checkpoint.update(facts or {})
        if self.persist:
            await self.persist(self.checkpoint, partial)

    async def effect(
        self,
        name: str,
        do: Callable[[], Awaitable[T]],
        before: dict | None = None,
        after: Callable[[T], dict] | None = None,
        partial: Callable[[T], dict] | None = None,
    ) -> T:
        """`do()` with the checkpoint written right before and right after it."""
        await self.note({**(before or {}), "effect": f"starting {name}"})
        self.crash("before", name)
        result = await do()
        self.crash("after", name)
        await self.note({**(after(result) if after else {}), "effect": f"did {name}"}, partial(result) if partial else None)
        return result

    async def passed(self, name: str) -> None:
        """A point inside an effect, written down (and a place a test may stop the process)."""
        self.crash("after", name)
        await self.note({"effect": f"did {name}"})

    async def say(self, line: str) -> None:
        """Reports a line of progress, at most one per interval."""
        now = time.monotonic()
        if self.report is None or now - self._reported_at < self.report_interval:
            return
        self._reported_at = now
        await self.report(line)
