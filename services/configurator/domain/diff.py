"""The changes a plan makes against the last applied desired state: create, update in place,
replace (with the reason), delete, unchanged.

Data is never deleted without the operator's explicit choice: a deleted bucket or VM (whose disk
holds the service's database) carries `data="delete"` only when its service was switched off with
dataOnDisable "delete", or when the operator's whole account is removed; otherwise `data="keep"`
(the bucket's key is revoked and its objects stay; the VM is shut down and kept with its disk).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts.configuration import SERVICES, OperatorConfiguration
from contracts.resources import DATA_KINDS, Change, Resource

from .naming import OPERATOR_WIDE, title


@dataclass(frozen=True)
class Intent:
    """What the operator wants for whatever leaves the plan."""

    enabled: frozenset[str] = frozenset()
    data_on_disable: Mapping[str, str] = field(default_factory=dict)
    removing: bool = False

    @classmethod
    def of(cls, config: OperatorConfiguration) -> "Intent":
        return cls(
            enabled=frozenset(config.enabled_services()),
            data_on_disable={name: config.service(name).data_on_disable for name in SERVICES},
        )

    @classmethod
    def removal(cls) -> "Intent":
        return cls(removing=True)

    def leaving(self, resource: Resource) -> tuple[str, str | None]:
        """(reason, data choice) for a resource that goes away."""
        data = "keep"
        if self.removing:
            reason, data = "the operator's account is removed", "delete"
        elif resource.service != OPERATOR_WIDE and resource.service not in self.enabled:
            reason = f"{title(resource.service)} is switched off"
            data = self.data_on_disable.get(resource.service, "keep")
        else:
            reason = "no longer part of the plan (the provider's policy changed)"
        return reason, (data if resource.kind in DATA_KINDS else None)


def diff(
    applied: Sequence[Resource],
    desired: Sequence[Resource],
    intent: Intent = Intent(),
    leftovers: Sequence[Resource] = (),
) -> list[Change]:
    """`leftovers`: resources of newer plans that never finished; those no longer wanted are
    deleted too, so a failed deployment leaves no orphan."""
    before = {r.id: r for r in applied}
    result: dict[str, Change] = {}
    for resource in desired:
        old = before.get(resource.id)
        if old is None:
            result[resource.id] = _change(resource, "create", "new")
            continue
        action, reason = _compare(old, resource)
        if action == "unchanged":
            replaced = [dep for dep in _inputs(resource) if dep in result and result[dep].action == "replace"]
            if replaced:
                action, reason = "update", f"{' and '.join(replaced)} {'is' if len(replaced) == 1 else 'are'} replaced"
        spec = _dump(old) if action == "replace" else None
        result[resource.id] = _change(resource, action, reason, spec=spec, data="keep" if action == "replace" and resource.kind == "bucket" else None)
    for resource in [*applied, *leftovers]:
        if resource.id in result:
            continue
        reason, data = intent.leaving(resource)
        if resource.id not in before:
            reason = f"left by an unfinished deployment: {reason}"
        result[resource.id] = _change(resource, "delete", reason, spec=_dump(resource), data=data)
    return [result[rid] for rid in sorted(result)]


def _change(resource: Resource, action: str, reason: str, spec: dict | None = None, data: str | None = None) -> Change:
    return Change(
        resource_id=resource.id, action=action, reason=reason, kind=resource.kind, service=resource.service, spec=spec, data=data
    )


def _dump(resource: Resource) -> dict:
    return resource.spec.model_dump(mode="json")


def _inputs(resource: Resource) -> list[str]:
    """What a resource is built from: its dependencies, the VM a record points at or NixOS runs on."""
    extra = ()
    if resource.kind == "dns" and resource.spec.address_of:
        extra = (resource.spec.address_of,)
    elif resource.kind == "nixos":
        extra = (resource.spec.vm,)
    return list(dict.fromkeys((*resource.depends_on, *extra)))


# -- comparing one resource ----------------------------------------------------------------------

_REPLACED_WHEN = {
    "vm": ("name", "node", "storage", "ip_pool"),
    "bucket": ("name", "preconfigured"),
    "account": ("username",),
    "mail": ("username",),
    "sshkey": ("name",),
    "dns": ("zone", "name", "type"),
    "nixos": ("vm",),
}

_LABELS = {
    "memory_mib": ("memory", " MiB"),
    "disk_gib": ("disk", " GiB"),
    "quota_bytes": ("size quota", " bytes"),
    "ip_pool": ("IP pool", ""),
    "display_name": ("display name", ""),
    "from_address": ("sender address", ""),
    "address_of": ("address source", ""),
    "depends_on": ("dependencies", ""),
}


def _compare(old: Resource, new: Resource) -> tuple[str, str]:
    if old.kind != new.kind:
        return "replace", f"becomes a {new.kind} (was a {old.kind})"
    if old.spec == new.spec and set(old.depends_on) == set(new.depends_on):
        return "unchanged", ""
    before, after = old.spec.model_dump(mode="json"), new.spec.model_dump(mode="json")
    changed = [name for name in after if before.get(name) != after[name]]
    moved = [name for name in changed if name in _REPLACED_WHEN.get(new.kind, ())]
    if moved:
        return "replace", "; ".join(_replace_reason(new.kind, name, before.get(name), after[name]) for name in moved)
    if new.kind == "vm" and after["disk_gib"] < before["disk_gib"]:
        return "replace", f"its disk shrinks from {before['disk_gib']} to {after['disk_gib']} GiB, which Proxmox cannot do in place"
    if set(old.depends_on) != set(new.depends_on):
        changed.append("depends_on")
    if not changed:
        return "unchanged", ""
    if new.kind == "nixos" and "config" in changed:
        paths = _changed_paths(before["config"], after["config"])
        return "update", "settings changed: " + ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
    return "update", "; ".join(_update_reason(name, before.get(name), after.get(name)) for name in changed)


def _replace_reason(kind: str, name: str, old, new) -> str:
    if kind == "vm" and name == "node":
        return f"moves from {_named('node', old)} to {_named('node', new)}"
    if kind == "vm" and name == "storage":
        return f"its disks move from {_named('storage', old)} to {_named('storage', new)}"
    if kind == "vm" and name == "ip_pool":
        return f"its address comes from {_named('IP pool', new)} (was {_named('IP pool', old)})"
    if kind == "bucket" and name == "preconfigured":
        return "uses the bucket the provider assigned" if new else "gets a bucket of its own instead of the provider's"
    label, _ = _LABELS.get(name, (name.replace("_", " "), ""))
    return f"{label} changes from {old} to {new}"


def _named(what: str, value) -> str:
    return f"{what} {value}" if value is not None else f"the default {what}"


def _update_reason(name: str, old, new) -> str:
    if name == "depends_on":
        return "its dependencies changed"
    if name == "template":  # a running machine is not rebuilt for it (its disk holds the database): NixOS updates it
        return f"machines made from now on start from {_named('template', new)}; this one stays as it is"
    label, unit = _LABELS.get(name, (name.replace("_", " "), ""))
    return f"{label} from {old}{unit} to {new}{unit}"


def _changed_paths(before, after, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                paths += _changed_paths(before.get(key), after.get(key), f"{prefix}{key}.")
        return paths
    return [prefix.rstrip(".").removeprefix("fediversity.")]
