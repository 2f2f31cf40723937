"""Proxmox VE through proxmoxer: find-or-clone a VM from the NixOS template, size it, start it,
and read its address from the guest agent. Every call is safe to repeat: a VM is found by its
deterministic name before anything is cloned, so a retried step never makes a second VM."""

import time
import urllib.parse
from dataclasses import dataclass

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import Timeout

from contracts.resources import VmSpec


class ProxmoxError(RuntimeError):
    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


TRANSIENT_MARKERS = ("got timeout", "is locked", "already exists", "Connection timed out", "try again")


def _error(exc: Exception, doing: str) -> ProxmoxError:
    if isinstance(exc, ResourceException):
        message = f"{doing}: {exc.status_code} {exc.content}".strip()
        transient = exc.status_code >= 500 or any(marker in str(exc.content) for marker in TRANSIENT_MARKERS)
        return ProxmoxError(message, transient=transient)
    if isinstance(exc, RequestsConnectionError | Timeout):
        return ProxmoxError(f"{doing}: Proxmox unreachable ({exc.__class__.__name__})", transient=True)
    return ProxmoxError(f"{doing}: {exc}", transient=False)


@dataclass(frozen=True)
class VmFacts:
    node: str
    vmid: int
    address: str


class ProxmoxVMs:
    def __init__(
        self,
        host: str,
        port: int,
        token_id: str,
        token_secret: str,
        node: str,
        template_vmid: int,
        verify_ssl: bool | str = True,
        task_timeout: float = 600.0,
        poll_interval: float = 0.2,
    ) -> None:
        user, token_name = token_id.split("!", 1)
        self.api = ProxmoxAPI(
            host, port=port, user=user, token_name=token_name, token_value=token_secret, verify_ssl=verify_ssl, timeout=30
        )
        self.node = node
        self.template_vmid = template_vmid
        self.task_timeout = task_timeout
        self.poll_interval = poll_interval

    def ensure_vm(self, spec: VmSpec, ssh_public_key: str) -> VmFacts:
        vmid = self._find(spec.name) or self._clone(spec.name)
        self._wait_unlocked(vmid)
        self._configure(vmid, spec, ssh_public_key)
        self._grow_disk(vmid, spec.disk_gib)
        self._start(vmid)
        return VmFacts(node=self.node, vmid=vmid, address=self._address(vmid))

    # -- steps ---------------------------------------------------------------------------------

    def _call(self, doing: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _error(exc, doing) from None

    def _qemu(self, vmid: int):
        return self.api.nodes(self.node).qemu(vmid)

    def _find(self, name: str) -> int | None:
        vms = self._call("listing VMs", self.api.cluster.resources.get, type="vm")
        matches = sorted(int(vm["vmid"]) for vm in vms if vm.get("name") == name and not vm.get("template"))
        return matches[0] if matches else None

    def _clone(self, name: str) -> int:
        for _ in range(5):
            vmid = int(self._call("reserving a VM id", self.api.cluster.nextid.get))
            try:
                upid = self._call(
                    f"cloning VM {vmid}",
                    self._qemu(self.template_vmid).clone.post,
                    newid=vmid,
                    name=name,
                    full=1,
                )
                self._wait_task(upid, f"cloning VM {vmid}")
                return vmid
            except ProxmoxError as exc:
                if "already exists" not in str(exc):
                    raise
                found = self._find(name)  # someone (maybe our earlier attempt) made it meanwhile
                if found is not None:
                    return found
        raise ProxmoxError(f"could not find a free VM id for {name} after 5 attempts", transient=True)

    def _wait_unlocked(self, vmid: int) -> None:
        deadline = time.monotonic() + self.task_timeout
        while self._call(f"reading VM {vmid}", self._qemu(vmid).config.get).get("lock"):
            if time.monotonic() > deadline:
                raise ProxmoxError(f"VM {vmid} stayed locked for {self.task_timeout:.0f}s", transient=True)
            time.sleep(self.poll_interval)

    def _configure(self, vmid: int, spec: VmSpec, ssh_public_key: str) -> None:
        upid = self._call(
            f"configuring VM {vmid}",
            self._qemu(vmid).config.post,
            cores=spec.cores,
            memory=spec.memory_mib,
            tags=";".join(spec.tags),
            agent="1",
            ciuser="root",
            ipconfig0="ip=dhcp",
            sshkeys=urllib.parse.quote(ssh_public_key.strip(), safe=""),
        )
        self._wait_task(upid, f"configuring VM {vmid}")

    def _grow_disk(self, vmid: int, disk_gib: int) -> None:
        config = self._call(f"reading VM {vmid}", self._qemu(vmid).config.get)
        current = _size_gib(config.get("scsi0", ""))
        if current is not None and current >= disk_gib:
            return
        upid = self._call(f"resizing VM {vmid}", self._qemu(vmid).resize.put, disk="scsi0", size=f"{disk_gib}G")
        if upid:
            self._wait_task(upid, f"resizing VM {vmid}")

    def _start(self, vmid: int) -> None:
        status = self._call(f"reading VM {vmid} status", self._qemu(vmid).status.current.get)
        if status.get("status") != "running":
            upid = self._call(f"starting VM {vmid}", self._qemu(vmid).status.start.post)
            self._wait_task(upid, f"starting VM {vmid}")

    def _address(self, vmid: int) -> str:
        deadline = time.monotonic() + self.task_timeout
        while True:
            try:
                result = self._qemu(vmid).agent("network-get-interfaces").get()
            except ResourceException as exc:
                if time.monotonic() > deadline:
                    raise _error(exc, f"reading VM {vmid} address from the guest agent") from None
                time.sleep(self.poll_interval)
                continue
            address = _first_ipv4(result.get("result", []))
            if address:
                return address
            time.sleep(self.poll_interval)

    def _wait_task(self, upid: str, doing: str) -> None:
        deadline = time.monotonic() + self.task_timeout
        while True:
            status = self._call(doing, self.api.nodes(self.node).tasks(upid).status.get)
            if status.get("status") == "stopped":
                exit_status = status.get("exitstatus", "")
                if exit_status == "OK" or exit_status.startswith("WARNINGS"):
                    return
                raise ProxmoxError(f"{doing}: task failed: {exit_status}", transient=_is_transient(exit_status))
            if time.monotonic() > deadline:
                raise ProxmoxError(f"{doing}: task still running after {self.task_timeout:.0f}s", transient=True)
            time.sleep(self.poll_interval)


def _is_transient(text: str) -> bool:
    return any(marker in text for marker in TRANSIENT_MARKERS)


def _size_gib(disk: str) -> float | None:
    for part in disk.split(","):
        if part.startswith("size="):
            value = part.removeprefix("size=")
            units = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1, "T": 1024}
            return float(value[:-1]) * units.get(value[-1], 1)
    return None


def _first_ipv4(interfaces: list[dict]) -> str | None:
    for interface in interfaces:
        if interface.get("name") == "lo":
            continue
        for address in interface.get("ip-addresses", []):
            if address.get("ip-address-type") == "ipv4":
                return address["ip-address"]
    return None
