"""Drift: what the orchestrator recorded, compared with what Proxmox, PowerDNS and storage hold.
Pure: no I/O. The readers hand in snapshots; `find_drift` says what differs, in plain words."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .records import RRSet, absolute, record_content
from .tags import KEPT_TAG, OPERATOR_TAG, OUR_TAG, REPLACED_TAG, STORAGE_PREFIX

Backend = Literal["proxmox", "dns", "storage"]
BACKEND_NAMES: dict[str, str] = {"proxmox": "Proxmox", "dns": "PowerDNS", "storage": "storage (Garage)"}


COMPARED = ("ready", "kept")


@dataclass(frozen=True)
class Recorded:
    """One resource as the orchestrator's database has it: its outputs, and the spec last applied."""

    resource_id: str
    operator_id: str
    kind: str
    outputs: Mapping[str, Any]
    spec: Mapping[str, Any] = field(default_factory=dict)
    state: str = "ready"
    """`partial` while a deployment is still making it: compared once it is `ready` (or `kept`: a VM
    shut down with its disk when its service was switched off)."""

    def fact(self, key: str, default: Any = None) -> Any:
        return self.outputs.get(key, self.spec.get(key, default))

    def knows(self, key: str) -> bool:
        return key in self.outputs or key in self.spec


@dataclass(frozen=True)
class HeldVm:
    vmid: int
    node: str
    name: str
    status: str
    tags: frozenset[str] = frozenset()
    cores: int | None = None
    memory_mib: int | None = None


@dataclass(frozen=True)
class HeldBucket:
    id: str
    alias: str
    quota_bytes: int | None = None
    quota_objects: int | None = None
    access: Mapping[str, tuple[bool, bool]] = field(default_factory=dict)
    """key id -> (may read, may write)"""


@dataclass(frozen=True)
class HeldKey:
    id: str
    name: str


@dataclass(frozen=True)
class Held:
    """What the backends hold. A backend named in `unreadable` could not be read (its fields are empty)."""

    vms: tuple[HeldVm, ...] = ()
    buckets: tuple[HeldBucket, ...] = ()
    keys: tuple[HeldKey, ...] = ()
    zones: Mapping[str, tuple[RRSet, ...]] = field(default_factory=dict)
    """The zones our records live in that exist on PowerDNS, with their record sets."""
    unreadable: Mapping[str, str] = field(default_factory=dict)
    """backend -> why it could not be read"""


@dataclass(frozen=True)
class Difference:
    backend: Backend
    kind: Literal["missing", "changed", "orphan", "kept"]
    """`kept`: not drift but data kept on purpose that no record names (a replaced VM), shown so it is not forgotten."""
    subject: str
    """The resource id, or for an orphan what the backend holds."""
    message: str
    operator_id: str | None = None


def find_drift(recorded: Iterable[Recorded], held: Held, operator: str | None = None) -> list[Difference]:
    """Every difference for `operator` (or everyone). `recorded` should hold every operator's resources:
    something is an orphan only when nothing at all recorded it."""
    everything = list(recorded)
    mine = [r for r in everything if (operator is None or r.operator_id == operator) and r.state in COMPARED]
    differences: list[Difference] = []
    if "proxmox" not in held.unreadable:
        differences += _vm_drift(mine, everything, held.vms, operator)
    if "storage" not in held.unreadable:
        differences += _storage_drift(mine, everything, held, operator)
    if "dns" not in held.unreadable:
        differences += _dns_drift(mine, everything, held.zones)
    return sorted(differences, key=lambda d: (d.operator_id or "", d.subject, d.kind, d.message))


def zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The longest of `zones` that `name` lies in."""
    name = absolute(name)
    inside = [z for z in zones if name == z or name.endswith("." + z)]
    return max(inside, key=len, default=None)


def recorded_zone(record: Recorded, zones: Iterable[str]) -> str | None:
    zone = record.fact("zone")
    return absolute(zone) if zone else zone_of(record.fact("name", ""), zones)


# ---- Proxmox ----------------------------------------------------------------------------------


def _vm_drift(mine: list[Recorded], everything: list[Recorded], vms: tuple[HeldVm, ...], operator: str | None):
    by_id = {vm.vmid: vm for vm in vms}
    by_name = {vm.name: vm for vm in sorted(vms, key=lambda vm: vm.vmid, reverse=True)}
    accounted = {vm.vmid for r in everything if r.kind == "vm" and (vm := _locate(r, by_id, by_name))}
    operators = {r.operator_id for r in everything}
    for record in (r for r in mine if r.kind == "vm"):
        yield from _one_vm(record, by_id, by_name)
    for vm in vms:
        owner = next((t.removeprefix(OPERATOR_TAG) for t in sorted(vm.tags) if t.startswith(OPERATOR_TAG)), None)
        ours = OUR_TAG in vm.tags and (operator is None or owner == operator)
        if not ours or vm.vmid in accounted:
            continue
        label = f"VM {vm.vmid} ({vm.name}) on {vm.node}"
        if KEPT_TAG in vm.tags and owner in operators:
            why = "was replaced; its disk holds the service's earlier database" if REPLACED_TAG in vm.tags else "holds kept data"
            yield Difference("proxmox", "kept", f"VM {vm.vmid}",
                             f"{label} {why}: kept shut down until the operator's account is removed", owner)
        else:
            yield Difference("proxmox", "orphan", f"VM {vm.vmid}", f"{label} carries our tags but nothing recorded it", owner)


def _locate(record: Recorded, by_id: dict[int, HeldVm], by_name: dict[str, HeldVm]) -> HeldVm | None:
    """The VM a record means: by id unless that id now holds another VM, else by its unique name."""
    vmid, name = record.fact("vmid"), record.fact("name")
    vm = by_id.get(int(vmid)) if vmid is not None else None
    if vm is not None and (not name or vm.name == name):
        return vm
    return by_name.get(name)


def _one_vm(record: Recorded, by_id: dict[int, HeldVm], by_name: dict[str, HeldVm]):
    def said(kind, message):
        return Difference("proxmox", kind, record.resource_id, message, record.operator_id)

    vmid, name, node = record.fact("vmid"), record.fact("name"), record.fact("node")
    vmid = int(vmid) if vmid is not None else None
    vm = _locate(record, by_id, by_name)
    if vm is None:
        yield said("missing", f"VM {vmid} ({name}) no longer exists on Proxmox (deleted by hand?)")
        return
    if vm.vmid != vmid:
        yield said("changed", f"VM {name} is now VM {vm.vmid} on {vm.node}; recorded VM {vmid}")
    elif node and vm.node != node:
        yield said("changed", f"VM {vmid} ({name}) is on {vm.node}; recorded on {node}")
    label = f"VM {vm.vmid} ({vm.name})"
    cores, memory = record.fact("cores"), record.fact("memory_mib")
    if cores is not None and vm.cores is not None and vm.cores != cores:
        yield said("changed", f"{label} has {vm.cores} cores; recorded {cores}")
    if memory is not None and vm.memory_mib is not None and vm.memory_mib != memory:
        yield said("changed", f"{label} has {vm.memory_mib} MiB of memory; recorded {memory} MiB")
    expected = "stopped" if record.state == "kept" else "running"  # kept: shut down with its disk, service switched off
    if vm.status != expected:
        yield said("changed", f"{label} is {vm.status}; it should be {expected}")
    lost = sorted(set(record.fact("tags") or ()) - vm.tags)
    if lost:
        yield said("changed", f"{label} lost its tags {', '.join(lost)}")


# ---- storage ----------------------------------------------------------------------------------


def _storage_drift(mine: list[Recorded], everything: list[Recorded], held: Held, operator: str | None):
    buckets = {b.alias: b for b in held.buckets}
    keys = {k.id: k for k in held.keys}
    for record in (r for r in mine if r.kind == "bucket"):
        yield from _one_bucket(record, buckets, keys)
    recorded = [r for r in everything if r.kind == "bucket"]
    aliases = {r.fact("bucket") or r.fact("name") for r in recorded}
    key_ids = {r.fact("access_key_id") for r in recorded}
    prefix = STORAGE_PREFIX + (f"{operator}-" if operator else "")
    for bucket in held.buckets:
        if bucket.alias.startswith(prefix) and bucket.alias not in aliases:
            yield Difference("storage", "orphan", f"bucket {bucket.alias}",
                             f"bucket {bucket.alias} exists in storage but nothing recorded it",
                             operator or _storage_owner(bucket.alias))
    for key in held.keys:
        if key.name.startswith(prefix) and key.id not in key_ids:
            yield Difference("storage", "orphan", f"key {key.name}",
                             f"access key {key.id} ({key.name}) exists in storage but nothing recorded it",
                             operator or _storage_owner(key.name))


def _one_bucket(record: Recorded, buckets: dict[str, HeldBucket], keys: dict[str, HeldKey]):
    def said(kind, message):
        return Difference("storage", kind, record.resource_id, message, record.operator_id)

    alias, key_id = record.fact("bucket") or record.fact("name"), record.fact("access_key_id")
    bucket = buckets.get(alias)
    if bucket is None:
        yield said("missing", f"bucket {alias} is missing from storage")
    if key_id and key_id not in keys:
        yield said("missing", f"access key {key_id} of bucket {alias} is missing from storage")
    if bucket is None:
        return
    if key_id in keys and bucket.access.get(key_id, (False, False)) != (True, True):
        yield said("changed", f"access key {key_id} may no longer read and write bucket {alias}")
    for fact, held_quota, what in (("quota_bytes", bucket.quota_bytes, "size quota"),
                                   ("quota_objects", bucket.quota_objects, "object quota")):
        if record.knows(fact) and record.fact(fact) != held_quota:
            recorded = _quota(record.fact(fact))
            yield said("changed", f"bucket {alias} has a {what} of {_quota(held_quota)}; recorded {recorded}")


def _quota(value: int | None) -> str:
    return "none" if value is None else str(value)


def _storage_owner(name: str) -> str | None:
    rest = name.removeprefix(STORAGE_PREFIX)
    return rest.rsplit("-", 1)[0] if "-" in rest else None


# ---- DNS --------------------------------------------------------------------------------------


def _dns_drift(mine: list[Recorded], everything: list[Recorded], zones: Mapping[str, tuple[RRSet, ...]]):
    for record in (r for r in mine if r.kind == "dns"):
        yield from _one_record(record, zones)
    recorded: dict[str | None, dict[tuple[str, str], Recorded]] = {}
    for record in (r for r in everything if r.kind == "dns"):
        recorded.setdefault(recorded_zone(record, zones), {})[_name_and_type(record)] = record
    mine_zones = {recorded_zone(r, zones) for r in mine if r.kind == "dns"}
    for zone in sorted(z for z in mine_zones if z in zones):
        owners = sorted({r.operator_id for r in recorded[zone].values()})
        for rrset in zones[zone]:
            apex = rrset.name == zone and rrset.type in ("SOA", "NS")
            if not apex and (rrset.name, rrset.type) not in recorded[zone]:
                label = f"{rrset.type} {rrset.name}"
                message = f"{label} ({_contents(rrset.contents)}) is in zone {zone} but nothing recorded it"
                yield Difference("dns", "orphan", label, message, owners[0] if len(owners) == 1 else None)


def _name_and_type(record: Recorded) -> tuple[str, str]:
    return absolute(record.fact("name", "")), str(record.fact("type", "")).upper()


def _one_record(record: Recorded, zones: Mapping[str, tuple[RRSet, ...]]):
    def said(kind, message):
        return Difference("dns", kind, record.resource_id, message, record.operator_id)

    name, rtype = _name_and_type(record)
    label = f"{rtype} {name}"
    zone = recorded_zone(record, zones)
    if zone not in zones:
        yield said("missing", f"{label} is missing: its zone {zone or '(unknown)'} is not on PowerDNS")
        return
    rrset = next((r for r in zones[zone] if (r.name, r.type) == (name, rtype)), None)
    if rrset is None:
        yield said("missing", f"{label} is missing from zone {zone}")
        return
    contents = record.fact("content") or record.fact("contents") or ()
    expected = tuple(sorted(record_content(rtype, c) for c in ([contents] if isinstance(contents, str) else contents)))
    if expected and tuple(sorted(rrset.contents)) != expected:
        yield said("changed", f"{label} holds {_contents(rrset.contents)}; recorded {_contents(expected)}")
    ttl = record.fact("ttl")
    if ttl is not None and rrset.ttl != ttl:
        yield said("changed", f"{label} has TTL {rrset.ttl}; recorded {ttl}")


def _contents(contents: Iterable[str]) -> str:
    return ", ".join(contents) or "nothing"
