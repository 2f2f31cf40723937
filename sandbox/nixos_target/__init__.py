"""NixOS deploy target stand-in.

`python -m sandbox.nixos_target switch --flake DIR#VM --target-host root@IP --state-dir S`
behaves like `nixos-rebuild switch` pointed at a sandbox VM: it validates the generated
deployment in DIR, prints nixos-rebuild's progress lines and records in `S/<VM>.json` which
configuration the VM now runs. `... receive-secrets --target-host root@IP --state-dir S` takes the
VM's secret files (a tar archive on stdin) into `held(S, IP)`, the host's /run/fediversity/secrets,
which `switch` checks the per-VM JSON against. `records(S)` gives the records to tests;
`deploy_command(S)` and `secrets_command(S)` are the orchestrator's commands pointed at S.
"""

import os
import sys

from sandbox.nixos_target.secrets import held
from sandbox.nixos_target.state import records

__all__ = ["deploy_command", "held", "records", "secrets_command"]


def deploy_command(state_dir: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "sandbox.nixos_target", "switch", "--flake", "{flake}#{vm}",
            "--target-host", "root@{address}", "--state-dir", str(state_dir)]


def secrets_command(state_dir: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "sandbox.nixos_target", "receive-secrets",
            "--target-host", "root@{address}", "--state-dir", str(state_dir)]
