"""What `fedi drift` reads: the orchestrator's records (read-only) and snapshots of what Proxmox,
PowerDNS and storage hold, in the terms of `services.orchestrator.domain.drift`."""

import json
import re
from pathlib import Path

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.orchestrator.adapters.dns import PowerDns
from services.orchestrator.adapters.store import ResourceState
from services.orchestrator.domain.drift import (
    HeldBucket,
    HeldKey,
    HeldVm,
    Recorded,
    recorded_zone,
)
from services.orchestrator.domain.records import RRSet
from services.orchestrator.domain.tags import OUR_TAG, STORAGE_PREFIX
from services.storage.adapters.garage import GarageAdmin, GarageNotFound


class RecordsUnreadable(RuntimeError):
    """The orchestrator's database is not there or cannot be read."""


def read_only_url(url: str) -> str:
    """The same database, opened so that nothing can be written (SQLite: mode=ro; the file must exist)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return url
    if not Path(parsed.database).exists():
        raise RecordsUnreadable(f"no orchestrator database at {parsed.database} (has the orchestrator run there?)")
    read_only = parsed.set(database=f"file:{parsed.database}", query={**parsed.query, "mode": "ro", "uri": "true"})
    return read_only.render_as_string(hide_password=False)


async def read_recorded(database_url: str) -> list[Recorded]:
    """Every resource the orchestrator recorded, with the spec it last applied."""
    engine = create_async_engine(read_only_url(database_url))
    columns = (ResourceState.resource_id, ResourceState.operator_id, ResourceState.kind,
               ResourceState.outputs_json, ResourceState.spec_json, ResourceState.state)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection = await connection.execution_options(postgresql_readonly=True)
            rows = (await connection.execute(select(*columns).order_by(ResourceState.resource_id))).all()
    finally:
        await engine.dispose()
    return [
        Recorded(rid, operator, kind, json.loads(outputs or "{}"), json.loads(spec or "{}"), state or "ready")
        for rid, operator, kind, outputs, spec, state in rows
    ]


def read_proxmox(api: ProxmoxAPI, recorded: list[Recorded]) -> tuple[HeldVm, ...]:
    """The VMs that carry our tag, or that a record names by id or name, with their size from the config."""
    vms = [r for r in recorded if r.kind == "vm"]
    vmids = {int(r.fact("vmid")) for r in vms if r.fact("vmid") is not None}
    names = {r.fact("name") for r in vms}
    held = []
    for vm in api.cluster.resources.get(type="vm"):
        vmid, tags = int(vm["vmid"]), frozenset(t for t in re.split(r"[;, ]", vm.get("tags") or "") if t)
        if vm.get("template") or not (OUR_TAG in tags or vmid in vmids or vm.get("name") in names):
            continue
        try:
            config = api.nodes(vm["node"]).qemu(vmid).config.get()
        except ResourceException:
            continue  # destroyed since the listing
        memory = str(config.get("memory", "512")).split(",")[0].removeprefix("current=")
        held.append(HeldVm(vmid, vm["node"], config.get("name", vm.get("name", "")), vm.get("status", ""), tags,
                           int(config.get("cores", 1)), int(memory)))
    return tuple(held)


def read_storage(admin: GarageAdmin, recorded: list[Recorded]) -> tuple[tuple[HeldBucket, ...], tuple[HeldKey, ...]]:
    """Buckets named like ours or recorded (with their keys' rights and quotas), and every key."""
    aliases = {r.fact("bucket") or r.fact("name") for r in recorded if r.kind == "bucket"}
    buckets = []
    for listed in admin.list_buckets():
        alias = next((a for a in listed.global_aliases if a in aliases or a.startswith(STORAGE_PREFIX)), None)
        if alias is None:
            continue
        try:
            bucket = admin.get_bucket(listed.id)
        except GarageNotFound:
            continue  # deleted since the listing
        access = {k.key_id: (k.permissions.read, k.permissions.write) for k in bucket.keys}
        buckets.append(HeldBucket(bucket.id, alias, bucket.quotas.max_size, bucket.quotas.max_objects, access))
    return tuple(buckets), tuple(HeldKey(k.id, k.name) for k in admin.list_keys())


def read_dns(pdns: PowerDns, recorded: list[Recorded]) -> dict[str, tuple[RRSet, ...]]:
    """The record sets of every zone the records live in (zones missing on PowerDNS are left out)."""
    existing = pdns.zones()
    wanted = {recorded_zone(r, existing) for r in recorded if r.kind == "dns"}
    return {zone: tuple(pdns.rrsets(zone)) for zone in sorted(z for z in wanted if z in existing)}
