"""NixOS deployer: writes one VM's deployment (see deployment_folder.py), delivers its secret files
to the VM, then runs the deploy command on it: `nixos-rebuild switch` or `nixops4 apply` in
production, the sandbox target (`python -m sandbox.nixos_target ...`) in development and tests."""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from services.orchestrator.adapters.deployment_folder import DeploymentFolder
from services.orchestrator.adapters.flake import DEFAULT_NIXPKGS, NixOps4Member, flake
from services.orchestrator.adapters.runner import CommandFailed, OutputCallback, redactor, run_streaming

log = structlog.get_logger(__name__)

NIX_DIR = Path(__file__).resolve().parents[3] / "nix"
DEFAULT_COMMAND = ("nixos-rebuild", "switch", "--flake", "{flake}#{vm}", "--target-host", "root@{address}")
REMOTE_SECRETS_DIR = "/run/fediversity/secrets"
DEFAULT_SECRETS_COMMAND = (
    "ssh", "{ssh_options}", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "root@{address}",
    f"umask 077 && d={REMOTE_SECRETS_DIR} && rm -rf \"$d.new\" && mkdir -p \"$d.new\""
    " && tar -x --no-same-owner -f - -C \"$d.new\" && rm -rf \"$d\" && mv \"$d.new\" \"$d\"",
)
"""Unpacks the tar archive on stdin as the VM's secrets folder, replacing the one there."""
TOOLS = ("nixos-rebuild", "nixops4")

_VM_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class DeployRequest:
    """One VM to deploy: its per-VM JSON (`{"fediversity": {...}}`, see nix/examples/) and the
    values of the secret files that JSON refers to, by basename: delivered to the VM's
    /run/fediversity/secrets as 0600 files, never on a command line or in a log."""

    vm_name: str
    address: str
    vm_config: Mapping[str, Any]
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    host_key: str | None = None
    """The VM's SSH host key learned at provisioning: pinned in the deployment's known_hosts."""
    ssh_private_key: str | None = field(default=None, repr=False)
    """The deploy key to log in with (written 0600); None: ssh's own configuration decides."""

    def __post_init__(self) -> None:
        if not _VM_NAME.fullmatch(self.vm_name):
            raise ValueError(f"vm_name {self.vm_name!r} is not a valid host name")
        if not self.address or any(c.isspace() or c in "@#/" for c in self.address):
            raise ValueError(f"address {self.address!r} is not a host address")
        for name in self.secrets:
            if not _SECRET_NAME.fullmatch(name):
                raise ValueError(f"secret name {name!r} is not a plain file name")


@dataclass(frozen=True)
class DeployResult:
    """A finished deploy. `generation_hash` is the sha256 of the per-VM JSON now deployed, written as
    `json.dumps(vm_config, sort_keys=True)`; the sandbox target records the same hash."""

    vm: str
    generation_hash: str
    log_tail: tuple[str, ...]


class DeployFailed(Exception):
    """The secrets delivery or the deploy command failed or timed out, or the request cannot be
    deployed; `reason` says which, with the command's last error lines (secrets redacted)."""

    def __init__(self, vm: str, reason: str, log_tail: Sequence[str] = ()):
        super().__init__(f"deploying {vm} failed: {reason}")
        self.vm = vm
        self.reason = reason
        self.log_tail = tuple(log_tail)


class NixosDeployer:
    """Deploys NixOS onto a VM from its per-VM JSON.

    Each deploy rewrites `work_dir/<vm>/`, runs `secrets_command` with a tar archive of the VM's
    secret files on stdin (they must then be the VM's /run/fediversity/secrets, nothing else), and
    then `command`, streaming every output line to `on_output`. Both run in the deployment folder with
    {flake}, {vm}, {address}, {known_hosts}, {identity} and {secrets} filled in, an argument
    `{ssh_options}` standing for the `-o` options that pin the host key and pick the deploy key, and
    the same options in `NIX_SSHOPTS`. With `tool="nixops4"` the flake also holds NixOps4's root
    component, the VM its member. Deploys of one VM run one at a time.
    """

    def __init__(
        self,
        work_dir: Path,
        command: Sequence[str] = DEFAULT_COMMAND,
        nix_dir: Path = NIX_DIR,
        timeout: float = 1800,
        nixpkgs_url: str = DEFAULT_NIXPKGS,
        tail_lines: int = 50,
        secrets_command: Sequence[str] = DEFAULT_SECRETS_COMMAND,
        tool: str = "nixos-rebuild",
    ):
        if tool not in TOOLS:
            raise ValueError(f"tool {tool!r} is not one of {', '.join(TOOLS)}")
        self.work_dir = Path(work_dir).resolve()
        self.command = tuple(command)
        self.secrets_command = tuple(secrets_command)
        self.nix_dir = Path(nix_dir)
        self.timeout = timeout
        self.nixpkgs_url = nixpkgs_url
        self.tail_lines = tail_lines
        self.tool = tool
        self._locks: dict[str, asyncio.Lock] = {}

    async def deploy(self, req: DeployRequest, on_output: OutputCallback | None = None,
                     secrets_delivered: Callable[[], Awaitable[None]] | None = None) -> DeployResult:
        """Delivers the VM's secret files, then switches it to the configuration (`secrets_delivered`
        is awaited in between). Both may be repeated: the files are replaced, the switch is idempotent."""
        async with self._locks.setdefault(req.vm_name, asyncio.Lock()):
            _refuse_inline_secrets(req)
            folder = DeploymentFolder(self.work_dir / req.vm_name, req.vm_name)
            flake_text = flake(req.vm_name, self.nixpkgs_url, self._nixops4_member(req, folder))
            config_hash = await asyncio.to_thread(folder.write, req, self.nix_dir, flake_text)
            archive = await asyncio.to_thread(folder.secrets_archive)
            redact = redactor([*req.secrets.values(), req.ssh_private_key or ""])
            await self._run(req, folder, redact, self.secrets_command, stdin=archive, doing="delivering the secrets")
            log.info("nixos.secrets.delivered", vm=req.vm_name, address=req.address, secrets=sorted(req.secrets))
            if secrets_delivered is not None:
                await secrets_delivered()
            log.info("nixos.deploy.started", vm=req.vm_name, address=req.address, command=self.command[0])
            tail = await self._run(req, folder, redact, self.command, on_output=on_output)
        log.info("nixos.deploy.succeeded", vm=req.vm_name, generation_hash=config_hash)
        return DeployResult(vm=req.vm_name, generation_hash=config_hash, log_tail=tuple(tail))

    def _nixops4_member(self, req: DeployRequest, folder: DeploymentFolder) -> NixOps4Member | None:
        if self.tool != "nixops4":
            return None
        if not req.host_key:
            raise DeployFailed(req.vm_name, "NixOps4 needs the VM's SSH host key, and none was learned at provisioning")
        host_key = " ".join(req.host_key.split()[:2])
        return NixOps4Member(req.address, host_key, " ".join(f"-o {o}" for o in folder.identity_options(req)))

    async def _run(self, req: DeployRequest, folder: DeploymentFolder, redact: Callable[[str], str],
                   template: Sequence[str], stdin: bytes | None = None, on_output: OutputCallback | None = None,
                   doing: str = "") -> list[str]:
        ssh = folder.ssh_options(req)
        values = folder.placeholders(req.address)
        argv = [arg for part in template for arg in
                ([x for option in ssh for x in ("-o", option)] if part == "{ssh_options}" else [_fill(part, values)])]
        try:
            return await run_streaming(
                argv, redact=redact, timeout=self.timeout, on_output=on_output, cwd=folder.root, stdin=stdin,
                env={"NIX_SSHOPTS": " ".join(f"-o {option}" for option in ssh)}, tail_lines=self.tail_lines,
            )
        except CommandFailed as failed:
            reason = f"{doing} to {req.address} failed: {failed.reason}" if doing else failed.reason
            log.warning("nixos.deploy.timed_out" if failed.timed_out else "nixos.deploy.failed", vm=req.vm_name, reason=reason)
            raise DeployFailed(req.vm_name, reason, failed.tail) from None


def _refuse_inline_secrets(req: DeployRequest) -> None:
    config_text = json.dumps(req.vm_config)
    for name, value in req.secrets.items():
        if value and json.dumps(value)[1:-1] in config_text:
            raise DeployFailed(req.vm_name, f"vm_config contains the value of secret {name!r}; refer to it by a ...File path")


def _fill(part: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        part = part.replace("{" + key + "}", value)
    return part
