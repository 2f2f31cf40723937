"""Proxmox VE through proxmoxer, as awaitable calls in Proxmox's own terms. Each call runs in a
thread of its own pool; transient failures (500 lock timeouts, 596, connection resets) of calls
that are safe to repeat are retried with backoff and jitter within a deadline. A clone is never
repeated here: the VM provider looks up what exists before it clones again."""

import asyncio
import re
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError

from ..retry import Backoff

HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"
PERMANENT_500 = (
    "does not exist",
    "not supported",
    "validation error",
    "no such",
    "protection mode",
    "not allowed",
    "permission",
    "No QEMU guest agent configured",
    "is a template",
    "can't start a vm if it's a template",
    "not implemented",
)
TRANSIENT_TASK = ("got timeout", "is locked", "already exists", "try again", "timed out", "temporarily")
LOCKED = ("can't lock file", "got timeout", "is locked", "stayed locked")


class ProxmoxError(RuntimeError):
    backend = "proxmox"

    def __init__(self, message: str, transient: bool, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.kind = kind or ("lock_timeout" if _locked(message) else f"http_{status}" if status else None)
        """For the metrics: lock_timeout, http_<status>, reset, unreachable, timeout, task_failed, task_timeout."""


def _locked(text: str) -> bool:
    return any(marker in text for marker in LOCKED)


def classify(exc: Exception, doing: str) -> ProxmoxError:
    if isinstance(exc, ProxmoxError):
        return exc
    if isinstance(exc, ResourceException):
        content = str(exc.content).strip()
        status = exc.status_code
        if status >= 500 and status != 501:
            transient = status != 500 or not any(marker.lower() in content.lower() for marker in PERMANENT_500)
        else:
            transient = False
        return ProxmoxError(f"{doing}: {status} {content}", transient=transient, status=status)
    if isinstance(exc, RequestsConnectionError | Timeout | ChunkedEncodingError | ConnectionError):
        kind = "timeout" if isinstance(exc, Timeout) else "unreachable" if "refused" in str(exc).lower() else "reset"
        return ProxmoxError(f"{doing}: Proxmox unreachable ({exc.__class__.__name__})", transient=True, kind=kind)
    return ProxmoxError(f"{doing}: {exc}", transient=False)


@dataclass(frozen=True)
class VmSummary:
    node: str
    vmid: int
    name: str
    tags: frozenset[str]
    status: str
    lock: str | None


class Proxmox:
    def __init__(
        self,
        host: str,
        port: int,
        token_id: str,
        token_secret: str,
        verify_ssl: bool | str = True,
        threads: int = 32,
        poll_interval: float = 0.5,
        task_timeout: float = 600.0,
        backoff: Backoff = Backoff(),
    ) -> None:
        user, token_name = token_id.split("!", 1)
        self.api = ProxmoxAPI(
            host, port=port, user=user, token_name=token_name, token_value=token_secret, verify_ssl=verify_ssl, timeout=30
        )
        self.api._store["session"].mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=threads))
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxmox")
        self.poll_interval = poll_interval
        self.task_timeout = task_timeout
        self.backoff = backoff

    def pauses(self):
        """The pauses between polls of something that takes a while: short at first, so a quick task
        is seen ending soon, then doubling up to poll_interval, so a long one costs few calls."""
        pause = self.poll_interval / 8
        while True:
            yield pause
            pause = min(pause * 2, self.poll_interval)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def once(self, doing: str, fn, *args, **kwargs):
        """One call, its errors classified; never repeated."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))
        except Exception as exc:
            raise classify(exc, doing) from None

    async def call(self, doing: str, fn, *args, **kwargs):
        """A call that is safe to repeat, retried while it fails transiently."""
        return await self.backoff.run(lambda: self.once(doing, fn, *args, **kwargs))

    def qemu(self, node: str, vmid: int):
        return self.api.nodes(node).qemu(vmid)

    # -- reads ---------------------------------------------------------------------------------

    async def vms(self) -> list[VmSummary]:
        found = await self.call("listing VMs", self.api.cluster.resources.get, type="vm")
        return [
            VmSummary(
                node=vm["node"],
                vmid=int(vm["vmid"]),
                name=vm.get("name", ""),
                tags=frozenset(t for t in re.split(r"[;,\s]+", vm.get("tags", "")) if t),
                status=vm.get("status", ""),
                lock=vm.get("lock"),
            )
            for vm in found
            if not vm.get("template")
        ]

    async def config(self, node: str, vmid: int) -> dict:
        return await self.call(f"reading VM {vmid}", self.qemu(node, vmid).config.get)

    async def status(self, node: str, vmid: int) -> str:
        return (await self.call(f"reading VM {vmid} status", self.qemu(node, vmid).status.current.get)).get("status", "")

    async def nextid(self, candidate: int | None = None) -> int | None:
        """The next free id, or whether `candidate` is free (None when taken)."""
        if candidate is None:
            return int(await self.call("reserving a VM id", self.api.cluster.nextid.get))
        try:
            return int(await self.call("checking a VM id", self.api.cluster.nextid.get, vmid=candidate))
        except ProxmoxError as exc:
            if exc.status == 400:
                return None
            raise

    async def interfaces(self, node: str, vmid: int) -> list[dict]:
        result = await self.once(f"reading VM {vmid} address", self.qemu(node, vmid).agent("network-get-interfaces").get)
        return result.get("result", [])

    async def host_key(self, node: str, vmid: int) -> str:
        result = await self.once(f"reading VM {vmid} host key", self.qemu(node, vmid).agent("file-read").get, file=HOST_KEY_PATH)
        return result.get("content", "").strip()

    # -- tasks ----------------------------------------------------------------------------------

    async def wait(self, node: str, upid: str | None, doing: str, timeout: float | None = None) -> None:
        """Until the task ends: OK and WARNINGS are success, anything else a ProxmoxError."""
        if not upid:
            return
        deadline = time.monotonic() + (timeout or self.task_timeout)
        pauses = self.pauses()
        while True:
            status = await self.call(doing, self.api.nodes(node).tasks(upid).status.get)
            if status.get("status") == "stopped":
                exit_status = status.get("exitstatus", "")
                if exit_status == "OK" or exit_status.startswith("WARNINGS"):
                    return
                transient = any(marker in exit_status for marker in TRANSIENT_TASK)
                kind = None if _locked(exit_status) else "task_failed"  # a lock timeout says so in its message
                raise ProxmoxError(f"{doing}: task failed: {exit_status}", transient=transient, kind=kind)
            if time.monotonic() > deadline:
                raise TaskTimeout(f"{doing}: task still running after {timeout or self.task_timeout:.0f}s")
            await asyncio.sleep(next(pauses))

    async def clone(self, node: str, template: int, newid: int, name: str, target: str, description: str, storage: str = "") -> str:
        params = dict(newid=newid, name=name, full=1, description=description)
        if target != node:
            params["target"] = target
        if storage:
            params["storage"] = storage
        return await self.once(f"cloning VM {newid}", self.qemu(node, template).clone.post, **params)

    async def configure(self, node: str, vmid: int, values: dict) -> None:
        upid = await self.call(f"configuring VM {vmid}", self.qemu(node, vmid).config.post, **values)
        await self.wait(node, upid, f"configuring VM {vmid}")

    async def resize(self, node: str, vmid: int, disk: str, size: str) -> None:
        upid = await self.call(f"resizing VM {vmid}", self.qemu(node, vmid).resize.put, disk=disk, size=size)
        await self.wait(node, upid, f"resizing VM {vmid}")

    async def power(self, node: str, vmid: int, action: str, wait_for: float | None = None, **params) -> None:
        doing = f"{action} of VM {vmid}"
        upid = await self.call(doing, getattr(self.qemu(node, vmid).status, action).post, **params)
        await self.wait(node, upid, doing, wait_for)

    async def destroy(self, node: str, vmid: int) -> None:
        doing = f"destroying VM {vmid}"
        upid = await self.call(doing, self.qemu(node, vmid).delete, purge=1, **{"destroy-unreferenced-disks": 1})
        await self.wait(node, upid, doing)


class TaskTimeout(ProxmoxError):
    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True, kind="task_timeout")


def quote_keys(keys: list[str]) -> str:
    return urllib.parse.quote("\n".join(k.strip() for k in keys if k.strip()), safe="")


def disk_gib(config: dict, disk: str = "scsi0") -> float | None:
    for part in str(config.get(disk, "")).split(","):
        if part.startswith("size="):
            value = part.removeprefix("size=")
            units = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1, "T": 1024}
            return float(value[:-1]) * units[value[-1]] if value[-1] in units else float(value) / 1024**3
    return None


def first_ipv4(interfaces: list[dict]) -> str | None:
    for interface in interfaces:
        if interface.get("name") == "lo":
            continue
        for address in interface.get("ip-addresses", []):
            if address.get("ip-address-type") == "ipv4":
                return address["ip-address"]
    return None


def __getattr__(name: str):
    if name == "ProxmoxVMs":  # the synchronous helper for scripts lives beside the VM provider
        from ..vms import ProxmoxVMs

        return ProxmoxVMs
    raise AttributeError(name)
