"""VMs on Proxmox: find (or adopt) the VM carrying the resource's tag, else clone one from the
template on the least busy node; bring its size, tags and cloud-init in line with the spec (a
reboot only when a running VM's cores or memory changed); start it; learn its address and SSH
host key from the guest agent. Deleting shuts it down (stopping it after a timeout) and destroys
it with its disks when the operator chose to delete its data, else keeps it shut down; a
replaced VM is kept shut down too. An operator's removal ends by sweeping every VM still carrying
its tag away the same way. Every side effect goes through the step's checkpoint."""

import asyncio
import re
import time
import urllib.parse
from dataclasses import dataclass
from types import SimpleNamespace

from contracts.resources import VmSpec

from .adapters.proxmox import Proxmox, ProxmoxError, VmSummary, disk_gib, first_ipv4, quote_keys
from .domain.tags import KEPT_TAG, REPLACED_TAG, operator_tag
from .limits import Limits
from .steps import StepContext

HARDWARE = {"cores": "cores", "memory": "memory_mib"}
RACES = ("already exists", "got timeout")


def resource_tag(resource_id: str) -> str:
    """The Proxmox tag naming the resource (tags allow [a-z0-9_-+.])."""
    return "fedi-res-" + re.sub(r"[^a-z0-9_\-+.]", "-", resource_id.lower().replace("/", "."))


def marker(resource_id: str) -> str:
    """Put in the description at clone time, so a VM is ours before its tags are set."""
    return f"Fediversity resource {resource_id}; managed by the orchestrator."


@dataclass(frozen=True)
class VmResult:
    outputs: dict
    created: bool
    changed: tuple[str, ...]
    rebooted: bool
    replaced: dict | None = None
    """For a replacement: the node and vmid of the VM destroyed first."""


class VmProvider:
    def __init__(
        self,
        proxmox: Proxmox,
        nodes: list[str],
        template_node: str,
        template_vmid: int,
        limits: Limits,
        storage: str = "",
        ipconfig: str = "ip=dhcp",
        shutdown_timeout: float = 60.0,
        boot_timeout: float = 600.0,
    ) -> None:
        self.px = proxmox
        self.nodes = nodes
        self.template_node = template_node
        self.template_vmid = template_vmid
        self.limits = limits
        self.storage = storage
        self.ipconfig = ipconfig
        self.shutdown_timeout = shutdown_timeout
        self.boot_timeout = boot_timeout
        self._allocating = asyncio.Lock()
        self._claimed: set[int] = set()

    # -- finding ---------------------------------------------------------------------------------

    async def locate(self, resource_id: str, name: str | None) -> VmSummary | None:
        """The VM of this resource: by its tag, or (fresh from a clone, not yet tagged) by its name
        and the marker in its description."""
        tag = resource_tag(resource_id)
        vms = await self.px.vms()
        tagged = sorted((vm for vm in vms if tag in vm.tags), key=lambda vm: vm.vmid)
        if tagged:
            return tagged[0]
        for vm in sorted(vms, key=lambda vm: vm.vmid):
            if name and vm.name == name and not vm.tags:
                try:
                    config = await self.px.config(vm.node, vm.vmid)
                except ProxmoxError as exc:
                    if not exc.transient:  # gone meanwhile
                        continue
                    raise
                if marker(resource_id) in urllib.parse.unquote(str(config.get("description", ""))):
                    return vm
        return None

    # -- making and changing ------------------------------------------------------------------------

    async def ensure(self, ctx: StepContext, spec: VmSpec, ssh_keys: list[str]) -> VmResult:
        if ctx.action == "replace" and "old_removed" not in ctx.checkpoint:
            old = await self.retire(ctx, spec.name)
            removed = {"node": old.node, "vmid": old.vmid} if old else ctx.checkpoint.get("removing")  # retired before a crash
            await ctx.note({"old_removed": removed, "existed": False})
        vm = await self.locate(ctx.resource_id, spec.name)
        if vm is None:
            vm = await self._clone(ctx, spec)
        created = not ctx.checkpoint.get("existed", False)
        await self._unlocked(vm)
        changed = await self._converge(ctx, vm, spec, ssh_keys, created)
        status = await self.px.status(vm.node, vm.vmid)
        rebooted = False
        if status != "running":
            await ctx.effect("vm.start", lambda: self._start(vm))
        elif ctx.checkpoint.get("reboot_pending"):
            await ctx.effect("vm.reboot", lambda: self.px.power(vm.node, vm.vmid, "reboot"), after=lambda _: {"reboot_pending": False, "rebooted": True})
            rebooted = True
        address = await self._address(vm)
        outputs = {
            "node": vm.node,
            "vmid": vm.vmid,
            "name": spec.name,
            "address": address,
            "host_key": await self._host_key(vm),
            "cores": spec.cores,
            "memory_mib": spec.memory_mib,
            "disk_gib": spec.disk_gib,
        }
        return VmResult(
            outputs, created, tuple(ctx.checkpoint.get("changed", changed)), rebooted or ctx.checkpoint.get("rebooted", False),
            replaced=ctx.checkpoint.get("old_removed"),
        )

    async def _clone(self, ctx: StepContext, spec: VmSpec) -> VmSummary:
        node = spec.node or self.limits.least_busy("clone", self.nodes)
        async with self.limits.hold("clone", node):
            vmid = await self._allocate()
            try:
                upid = await ctx.effect(
                    "vm.clone",
                    lambda: self.px.clone(
                        self.template_node, spec.template or self.template_vmid, vmid, spec.name, node,
                        marker(ctx.resource_id), spec.storage or self.storage,
                    ),
                    before={"clone": {"node": node, "vmid": vmid}},
                    partial=lambda _: {"node": node, "vmid": vmid, "name": spec.name},
                )
                await self.px.wait(self.template_node, upid, f"cloning VM {vmid}")
            except ProxmoxError as exc:
                if any(race in str(exc) for race in RACES):  # another clone took the id: look again, then retry
                    raise ProxmoxError(f"{exc} (VM id {vmid} was taken meanwhile)", transient=True) from None
                raise
            finally:
                self._claimed.discard(vmid)
        return VmSummary(node=node, vmid=vmid, name=spec.name, tags=frozenset(), status="stopped", lock=None)

    async def _allocate(self) -> int:
        """A free id no clone of this process is about to use (Proxmox's nextid reserves nothing)."""
        async with self._allocating:
            candidate = await self.px.nextid()
            while candidate in self._claimed or (candidate != await self.px.nextid(candidate)):
                candidate += 1
            self._claimed.add(candidate)
            return candidate

    async def _unlocked(self, vm: VmSummary) -> None:
        deadline = time.monotonic() + self.px.task_timeout
        pauses = self.px.pauses()
        while (await self.px.config(vm.node, vm.vmid)).get("lock"):
            if time.monotonic() > deadline:
                raise ProxmoxError(f"VM {vm.vmid} stayed locked for {self.px.task_timeout:.0f}s", transient=True)
            await asyncio.sleep(next(pauses))

    def desired(self, resource_id: str, spec: VmSpec, ssh_keys: list[str], config: dict) -> dict:
        network = {"net0": _on_bridge(config.get("net0", ""), spec.ip_pool)} if spec.ip_pool else {}
        return network | {
            "cores": spec.cores,
            "memory": spec.memory_mib,
            "tags": ";".join(sorted({t.lower() for t in spec.tags} | {resource_tag(resource_id)})),
            "agent": "1",
            "ciuser": "root",
            "ipconfig0": self.ipconfig,
            "sshkeys": quote_keys(ssh_keys),
            "description": marker(resource_id),
        }

    async def _converge(self, ctx: StepContext, vm: VmSummary, spec: VmSpec, ssh_keys: list[str], created: bool) -> tuple[str, ...]:
        config = await self.px.config(vm.node, vm.vmid)
        desired = self.desired(ctx.resource_id, spec, ssh_keys, config)
        diff = {k: v for k, v in desired.items() if not _same(k, config.get(k), v)}
        changed = sorted(HARDWARE[k] for k in diff if k in HARDWARE)
        size = disk_gib(config)
        grow = size is not None and spec.disk_gib > size + 1e-6
        if size is not None and spec.disk_gib < size - 1e-6:
            raise ProxmoxError(
                f"VM {vm.vmid}: the disk is {size:g} GiB and cannot shrink to {spec.disk_gib} GiB (shrinking disks is not supported)",
                transient=False,
            )
        if grow:
            changed.append("disk_gib")
        changed = sorted(set(changed) | set(ctx.checkpoint.get("changed", ())))  # what an attempt before a crash changed
        if not created and changed:
            running = (await self.px.status(vm.node, vm.vmid)) == "running"
            reboot = running and any(HARDWARE[k] in changed for k in diff if k in HARDWARE)
            await ctx.note({"changed": changed, "reboot_pending": reboot or ctx.checkpoint.get("reboot_pending", False)})
        if diff:
            await ctx.effect("vm.configure", lambda: self.px.configure(vm.node, vm.vmid, diff))
        if grow:
            await ctx.effect("vm.resize", lambda: self.px.resize(vm.node, vm.vmid, "scsi0", f"{spec.disk_gib}G"))
        return tuple(changed)

    async def _start(self, vm: VmSummary) -> None:
        try:
            await self.px.power(vm.node, vm.vmid, "start")
        except ProxmoxError as exc:
            if "already running" not in str(exc):
                raise

    async def _address(self, vm: VmSummary) -> str:
        return await self._from_agent(vm, lambda: self._ipv4(vm), "its address")

    async def _ipv4(self, vm: VmSummary) -> str | None:
        return first_ipv4(await self.px.interfaces(vm.node, vm.vmid))

    async def _host_key(self, vm: VmSummary) -> str | None:
        try:
            return await self._from_agent(vm, lambda: self.px.host_key(vm.node, vm.vmid), "its SSH host key")
        except ProxmoxError as exc:
            if exc.status == 501:  # a guest agent without file-read: the deployer trusts the key on first use
                return None
            raise

    async def _from_agent(self, vm: VmSummary, read, what: str):
        """Polls the guest agent while the VM boots."""
        deadline = time.monotonic() + self.boot_timeout
        pauses = self.px.pauses()
        while True:
            try:
                value = await read()
                if value:
                    return value
            except ProxmoxError as exc:
                booting = any(m in str(exc) for m in ("not running", "agent is not", "timeout"))
                if exc.status == 501 or not (exc.transient or booting) or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise ProxmoxError(f"VM {vm.vmid} did not report {what} within {self.boot_timeout:.0f}s", transient=True)
            await asyncio.sleep(next(pauses))

    # -- deleting ------------------------------------------------------------------------------------

    async def keep(self, ctx: StepContext, name: str | None) -> VmSummary | None:
        """Shut down (stopped after the timeout) and marked kept; its disks stay."""
        vm = await self.locate(ctx.resource_id, name)
        if vm is None:
            return None
        await self._unlocked(vm)
        await self._shut_down(ctx, vm)
        if KEPT_TAG not in vm.tags:
            tags = ";".join(sorted({*vm.tags, KEPT_TAG}))
            await ctx.effect("vm.keep", lambda: self.px.configure(vm.node, vm.vmid, {"tags": tags}))
        return vm

    async def retire(self, ctx: StepContext, name: str | None) -> VmSummary | None:
        """The VM a replacement takes the place of: shut down and kept with its disk (it holds the
        database, which nothing moves over by itself), no longer this resource's."""
        vm = await self.locate(ctx.resource_id, name)
        if vm is None:
            return None
        await self._unlocked(vm)
        await self._shut_down(ctx, vm)
        tags = ";".join(sorted((vm.tags - {resource_tag(ctx.resource_id)}) | {KEPT_TAG, REPLACED_TAG}))
        await ctx.effect(
            "vm.retire", lambda: self.px.configure(vm.node, vm.vmid, {"tags": tags, "name": f"{vm.name}-replaced"}),
            before={"removing": {"node": vm.node, "vmid": vm.vmid}},
        )
        return vm

    async def remove(self, ctx: StepContext, name: str | None) -> VmSummary | None:
        vm = await self.locate(ctx.resource_id, name)
        if vm is not None:
            await self._destroy_with_disks(ctx, vm)
        return vm

    async def sweep(self, ctx: StepContext, operator: str) -> list[dict]:
        """Every VM still carrying the operator's tag (kept, replaced, or left by an interrupted
        deployment) destroyed with its disks; returns each one's node, vmid and name, those an attempt
        before a crash destroyed included (the checkpoint lists what was found)."""
        tag = operator_tag(operator)
        left = sorted((vm for vm in await self.px.vms() if tag in vm.tags), key=lambda vm: vm.vmid)
        found = {vm["vmid"]: vm for vm in ctx.checkpoint.get("swept", ())}
        found |= {vm.vmid: {"node": vm.node, "vmid": vm.vmid, "name": vm.name} for vm in left}
        await ctx.note({"swept": sorted(found.values(), key=lambda vm: vm["vmid"])})
        for vm in left:
            await self._destroy_with_disks(ctx, vm)
        return ctx.checkpoint["swept"]

    async def _destroy_with_disks(self, ctx: StepContext, vm: VmSummary) -> None:
        await self._unlocked(vm)
        await self._shut_down(ctx, vm)
        await ctx.effect("vm.destroy", lambda: self._destroy(vm), before={"removing": {"node": vm.node, "vmid": vm.vmid}})

    async def _shut_down(self, ctx: StepContext, vm: VmSummary) -> None:
        if await self.px.status(vm.node, vm.vmid) == "running":
            try:
                await ctx.effect(
                    "vm.shutdown",
                    lambda: self.px.power(
                        vm.node, vm.vmid, "shutdown", wait_for=self.shutdown_timeout + 5, timeout=int(self.shutdown_timeout)
                    ),
                    before={"removing": {"node": vm.node, "vmid": vm.vmid}},
                )
            except ProxmoxError:  # a guest that ignores the request, or takes too long: stopped below
                pass
            if await self.px.status(vm.node, vm.vmid) == "running":
                await ctx.effect("vm.stop", lambda: self.px.power(vm.node, vm.vmid, "stop"))

    async def _destroy(self, vm: VmSummary) -> None:
        try:
            await self.px.destroy(vm.node, vm.vmid)
        except ProxmoxError as exc:
            if "does not exist" not in str(exc):
                raise


def _on_bridge(net: str, bridge: str) -> str:
    """A NIC definition attached to `bridge`, keeping its model and MAC address."""
    parts = [p for p in net.split(",") if p and not p.startswith("bridge=")] or ["virtio"]
    return ",".join([parts[0], f"bridge={bridge}", *parts[1:]])


def _same(key: str, have, want) -> bool:
    if have is None:
        return False
    if key == "sshkeys":
        return urllib.parse.unquote(str(have)).strip() == urllib.parse.unquote(str(want)).strip()
    if key == "description":
        return urllib.parse.unquote(str(have)).strip() == str(want).strip()
    if key == "tags":
        split = lambda text: {t.lower() for t in re.split(r"[;,\s]+", str(text)) if t}  # noqa: E731
        return split(have) == split(want)
    return str(have) == str(want)


@dataclass(frozen=True)
class VmFacts:
    node: str
    vmid: int
    address: str


class ProxmoxVMs:
    """Find-or-make one VM synchronously, without the executor: for scripts such as the baseline of
    bench/deploy_latency.py."""

    def __init__(self, host: str, port: int, token_id: str, token_secret: str, node: str, template_vmid: int,
                 verify_ssl: bool | str = True, poll_interval: float = 0.2, task_timeout: float = 600.0) -> None:
        self._connect = lambda: Proxmox(host, port, token_id, token_secret, verify_ssl, threads=4,
                                        poll_interval=poll_interval, task_timeout=task_timeout)
        self.node, self.template_vmid = node, template_vmid

    def ensure_vm(self, spec: VmSpec, ssh_public_key: str) -> VmFacts:
        async def ensure() -> VmFacts:
            proxmox = self._connect()
            try:
                provider = VmProvider(proxmox, [self.node], self.node, self.template_vmid, Limits({}))
                step = SimpleNamespace(resource_id=f"script/{spec.name}/vm", action="create", spec=spec.model_dump())
                result = await provider.ensure(StepContext(deployment=None, step=step, inputs={}, current=None), spec, [ssh_public_key])
            finally:
                proxmox.close()
            return VmFacts(result.outputs["node"], result.outputs["vmid"], result.outputs["address"])

        return asyncio.run(ensure())
