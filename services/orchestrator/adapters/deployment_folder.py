"""One VM's deployment folder, `work_dir/<vm>/`: `flake.nix`, a copy of `nix/`, `vms/<vm>.json`,
`secrets/<vm>/<name>` (0600 in a 0700 folder), `known_hosts` pinning the VM's host key and
`ssh/id`, the deploy key. Rewritten whole on every deploy."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.orchestrator.adapters.deployer import DeployRequest


@dataclass(frozen=True)
class DeploymentFolder:
    root: Path
    vm: str

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def identity(self) -> Path:
        return self.root / "ssh" / "id"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets" / self.vm

    def placeholders(self, address: str) -> dict[str, str]:
        """What a configured command may refer to: {flake}, {vm}, {address}, {known_hosts}, {identity}, {secrets}."""
        return {"flake": str(self.root), "vm": self.vm, "address": address, "known_hosts": str(self.known_hosts),
                "identity": str(self.identity), "secrets": str(self.secrets)}

    def ssh_options(self, req: DeployRequest) -> list[str]:
        """`-o` options for every ssh to the VM: the pinned host key only (or trust on first use when
        the key could not be learned), and the deploy key when one is given."""
        options = [f"UserKnownHostsFile={self.known_hosts}", "GlobalKnownHostsFile=/dev/null",
                   f"StrictHostKeyChecking={'yes' if req.host_key else 'accept-new'}"]
        return options + self.identity_options(req)

    def identity_options(self, req: DeployRequest) -> list[str]:
        return [f"IdentityFile={self.identity}", "IdentitiesOnly=yes"] if req.ssh_private_key else []

    def write(self, req: DeployRequest, nix_dir: Path, flake_text: str) -> str:
        """Writes everything; returns the sha256 of the per-VM JSON as written."""
        (self.root / "vms").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.root / "nix", ignore_errors=True)
        shutil.copytree(nix_dir, self.root / "nix", ignore=shutil.ignore_patterns("examples", "*.md"))
        document = json.dumps(req.vm_config, sort_keys=True)
        (self.root / "vms" / f"{self.vm}.json").write_text(document)
        (self.root / "flake.nix").write_text(flake_text)

        shutil.rmtree(self.secrets, ignore_errors=True)  # a secret no longer requested must not linger
        self.secrets.mkdir(parents=True, mode=0o700)
        os.chmod(self.secrets.parent, 0o700)
        for name, value in req.secrets.items():
            _write_private(self.secrets / name, value)
        known_hosts = f"{req.address} {' '.join(req.host_key.split()[:2])}\n" if req.host_key else ""
        self.known_hosts.write_text(known_hosts)
        self.identity.parent.mkdir(mode=0o700, exist_ok=True)
        if req.ssh_private_key:
            _write_private(self.identity, req.ssh_private_key.rstrip("\n") + "\n")
        return hashlib.sha256(document.encode()).hexdigest()

    def secrets_archive(self) -> bytes:
        """The secrets folder as an uncompressed tar of plain 0600 files owned by root, names only."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.secrets.iterdir()):
                info = tar.gettarinfo(path, arcname=path.name)
                info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime = 0o600, 0, 0, "root", "root", 0
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        return buffer.getvalue()


def _write_private(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(value)
