"""What an operator's deployment holds of the provider's resources, counted from its plan, and that
in words for the provider's pages. No I/O."""

from collections.abc import Iterable, Mapping

from contracts.resources import Resource

HELD = ("vms", "cores", "memory_mib", "disk_gib", "buckets", "dns_records")


def holdings(resources: Iterable[Resource]) -> dict[str, int]:
    """Virtual machines with their cores, memory and disk, buckets and DNS records of a plan."""
    held = dict.fromkeys(HELD, 0)
    for resource in resources:
        if resource.kind == "vm":
            held["vms"] += 1
            held["cores"] += resource.spec.cores
            held["memory_mib"] += resource.spec.memory_mib
            held["disk_gib"] += resource.spec.disk_gib
        elif resource.kind == "bucket":
            held["buckets"] += 1
        elif resource.kind == "dns":
            held["dns_records"] += 1
    return held


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


def holdings_words(held: Mapping[str, int] | None) -> str:
    """E.g. "2 VMs (4 cores, 8.0 GiB memory, 80 GiB disk) · 2 buckets · 3 DNS records"; None: no
    deployment succeeded; empty: one did, before the panel counted what plans hold."""
    if held is None:
        return "nothing deployed yet"
    if not held:
        return "not counted (deployed before the panel counted resources)"
    vms = _count(held.get("vms", 0), "VM")
    if held.get("vms"):
        memory = f"{held.get('memory_mib', 0) / 1024:.1f} GiB memory"
        vms += f" ({_count(held.get('cores', 0), 'core')}, {memory}, {held.get('disk_gib', 0)} GiB disk)"
    return " · ".join((vms, _count(held.get("buckets", 0), "bucket"), _count(held.get("dns_records", 0), "DNS record")))
