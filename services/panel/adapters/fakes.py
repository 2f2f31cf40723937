"""In-memory stand-ins for the panel's bus ports, for tests without a bus."""

from typing import Any

from contracts.configuration import SERVICES
from contracts.requests import PlanPreviewReply
from contracts.resources import Change, Problem
from runtime.event_chain import Traced

from .bus import Unavailable


class FakePlanner:
    """Plans like the configurator in outline: creates for enabled services, and for services that
    were enabled in `applied` and are now off, deletes that keep or delete data as chosen."""

    def __init__(self, applied: dict[str, Any] | None = None, problems: tuple[Problem, ...] = ()) -> None:
        self.applied = applied or {}
        self.problems = problems
        self.asked: list[tuple[str, dict]] = []
        self.available = True

    async def preview(self, operator_id: str, configuration: dict[str, Any]) -> PlanPreviewReply:
        self.asked.append((operator_id, configuration))
        if not self.available:
            raise Unavailable("the plan preview is not available right now")
        if self.problems:
            return PlanPreviewReply(problems=self.problems)
        changes = []
        for service in SERVICES:
            now_on = configuration.get(service, {}).get("enable", False)
            was_on = self.applied.get(service, {}).get("enable", False)
            rid = lambda kind: f"{operator_id}/{service}/{kind}"  # noqa: E731
            if now_on and not was_on:
                changes += [Change(resource_id=rid(k), action="create", kind=k, service=service) for k in ("vm", "bucket", "account", "nixos")]
            elif was_on and not now_on:
                data = configuration.get(service, {}).get("dataOnDisable", "keep")
                changes += [Change(resource_id=rid(k), action="delete", kind=k, service=service) for k in ("vm", "account", "nixos")]
                changes.append(Change(resource_id=rid("bucket"), action="delete", kind="bucket", service=service, data=data))
            elif now_on:
                changes += [Change(resource_id=rid(k), action="unchanged", kind=k, service=service) for k in ("vm", "nixos")]
        return PlanPreviewReply(changes=tuple(changes))


class FakeVault:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.asked: list[str] = []

    async def reveal(self, ref: str) -> str:
        self.asked.append(ref)
        if ref not in self.values:
            raise Unavailable("no such secret")
        return self.values[ref]


class FakeTrail:
    def __init__(self, events: list[Traced] | None = None) -> None:
        self.stored = list(events or [])

    async def events(self, correlation_id: str) -> list[Traced]:
        return [event for event in self.stored if event.message.correlation_id == correlation_id]
