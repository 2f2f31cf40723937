"""The plan as a dependency graph: which steps can run now, and how long the rest should take."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

PENDING, RUNNING, WAITING, DONE, FAILED = "pending", "running", "waiting", "done", "failed"
ACTIVE = (RUNNING, WAITING)


@dataclass(frozen=True)
class StepView:
    id: str
    kind: str
    state: str
    depends_on: tuple[str, ...]
    elapsed: float = 0.0
    """Seconds since the step started, for a step that is running."""


def runnable(steps: Sequence[StepView]) -> list[StepView]:
    """Pending steps whose dependencies are all done, in plan order."""
    done = {step.id for step in steps if step.state == DONE}
    return [step for step in steps if step.state == PENDING and set(step.depends_on) <= done]


def remaining_seconds(steps: Sequence[StepView], typical: Mapping[str, float]) -> float | None:
    """The longest remaining dependency chain, with each kind's typical duration; None when unknown."""
    by_id = {step.id: step for step in steps}
    if any(step.kind not in typical for step in steps if step.state != DONE):
        return None

    @cache
    def finish(step_id: str) -> float:
        step = by_id[step_id]
        if step.state == DONE:
            return 0.0
        own = max(typical[step.kind] - step.elapsed, 0.0) if step.state in ACTIVE else typical[step.kind]
        return own + max((finish(dep) for dep in step.depends_on if dep in by_id), default=0.0)

    return max((finish(step.id) for step in steps), default=0.0)
