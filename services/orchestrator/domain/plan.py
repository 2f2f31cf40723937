"""A plan (resources + changes) as the steps a deployment executes, with every dependency the
executor must respect: the declared ones, the implicit ones (a DNS record after the VM whose
address it holds, a VM after the operator's SSH key), and for deletions the reverse order
(records and configurations first, then VMs, then data and credentials, and at the very end of an
operator's removal its directory at identity, whatever else storage holds for it and every other
machine of it on Proxmox)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.resources import Change

DELETE_RANK = {"dns": 0, "nixos": 0, "vm": 1, "directory": 3, "storage": 3, "machines": 3}
"""Deletions of a lower rank finish before those of a higher one; anything else ranks 2."""

REMOTE_KINDS = {
    "bucket": "storage", "account": "identity", "mail": "identity", "sshkey": "identity", "directory": "identity", "storage": "storage",
}
"""Kinds another service makes on the orchestrator's command."""


@dataclass(frozen=True)
class PlannedStep:
    resource_id: str
    kind: str
    service: str
    action: str
    spec: dict[str, Any] | None
    depends_on: tuple[str, ...]
    data: str | None = None


def kind_of(resource_id: str) -> str:
    """Ids are `<operator>/<service>/<kind>[/<role>]`."""
    parts = resource_id.split("/")
    return parts[2] if len(parts) >= 3 else parts[-1]


def service_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[1] if len(parts) >= 3 else ""


def role_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[3] if len(parts) >= 4 else ""


READER = "reader"


def account_purpose(resource_id: str) -> str:
    """An account is a service's admin account, or the operator's directory reader
    (`<operator>/_/account/reader`) every VM of the operator binds as."""
    return READER if role_of(resource_id) == READER else "admin"


def planned_steps(resources: Sequence[dict], changes: Sequence[Change]) -> list[PlannedStep]:
    """`resources` as dumped JSON (id, kind, service, spec, depends_on)."""
    by_change = {change.resource_id: change for change in changes}
    present = {resource["id"] for resource in resources}
    sshkeys = [r["id"] for r in resources if r["kind"] == "sshkey"]
    steps: list[PlannedStep] = []
    for resource in resources:
        change = by_change.get(resource["id"])
        implicit = _implicit(resource, sshkeys)
        depends = tuple(dict.fromkeys(d for d in (*resource.get("depends_on", ()), *implicit) if d in present and d != resource["id"]))
        steps.append(
            PlannedStep(
                resource_id=resource["id"],
                kind=resource["kind"],
                service=resource["service"],
                action=change.action if change else "create",
                spec=resource["spec"],
                depends_on=depends,
                data=change.data if change else None,
            )
        )
    deletions = [c for c in changes if c.action == "delete" and c.resource_id not in present]
    ranked = [(DELETE_RANK.get(c.kind or kind_of(c.resource_id), 2), c) for c in deletions]
    for rank, change in ranked:
        earlier = tuple(other.resource_id for other_rank, other in ranked if other_rank < rank)
        steps.append(
            PlannedStep(
                resource_id=change.resource_id,
                kind=change.kind or kind_of(change.resource_id),
                service=change.service or service_of(change.resource_id),
                action="delete",
                spec=change.spec,
                depends_on=earlier,
                data=change.data,
            )
        )
    return steps


def _implicit(resource: dict, sshkeys: list[str]) -> tuple[str, ...]:
    spec = resource["spec"]
    if resource["kind"] == "vm":
        return tuple(sshkeys)
    if resource["kind"] == "dns" and spec.get("address_of"):
        return (spec["address_of"],)
    if resource["kind"] == "nixos":
        return (spec["vm"],)
    return ()
