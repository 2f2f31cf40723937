"""What a policy change means for one operator, in words they understand: the changes and the
downtime to expect. Downtime is an estimate per VM (its services are down together), the longest
VM counting, since the orchestrator updates VMs side by side."""

from collections.abc import Iterable

from contracts.fleet import OperatorImpactSummary
from contracts.resources import Change

from ..domain.naming import OPERATOR_WIDE, title
from ..domain.plans import OperatorImpact

REBUILD_MINUTES = 15
"""A VM made anew: clone, boot, NixOS deployed onto it."""
REBOOT_MINUTES = 3
"""A VM given other cores or memory: Proxmox applies them with a reboot."""
SWITCH_MINUTES = 2
"""A NixOS configuration switched on a running VM: its services restart."""

THINGS = {"vm": "virtual machine", "bucket": "storage bucket", "dns": "DNS record", "mail": "mail relay account",
          "account": "admin account", "sshkey": "deploy key", "nixos": "NixOS configuration"}
ACTIONS = {"create": "is created", "update": "changes", "replace": "is made anew", "delete": "is removed"}


def describe(change: Change) -> str:
    owner = "Your account" if change.service in ("", OPERATOR_WIDE) else title(change.service)
    line = f"{owner}: the {THINGS.get(change.kind, change.kind)} {ACTIONS.get(change.action, change.action)}"
    if change.reason:
        line += f" ({change.reason})"
    if change.action == "delete" and change.data:
        line += ", its data kept" if change.data == "keep" else ", its data deleted"
    if change.action == "replace" and change.kind == "vm":
        line += "; the old one is kept shut down with its disk (its database is not moved over by itself)"
    return line


def _downtime(change: Change) -> int:
    if change.kind == "vm" and change.action == "replace":
        return REBUILD_MINUTES
    if change.kind == "vm" and change.action == "update" and any(word in change.reason for word in ("cores", "memory")):
        return REBOOT_MINUTES
    if change.kind == "nixos" and change.action in ("update", "replace"):
        return SWITCH_MINUTES
    return 0


def downtime_minutes(changes: Iterable[Change]) -> int:
    per_service: dict[str, int] = {}
    for change in changes:
        per_service[change.service] = per_service.get(change.service, 0) + _downtime(change)
    return max(per_service.values(), default=0)


def summary(impact: OperatorImpact) -> OperatorImpactSummary:
    return OperatorImpactSummary(
        operator_id=impact.operator,
        changes=tuple(describe(change) for change in impact.changes),
        downtime_minutes=downtime_minutes(impact.changes),
        problems=tuple(f"{p.field}: {p.message}" for p in impact.problems),
    )
