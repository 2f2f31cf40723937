"""NixOS deploy target stand-in.

`python -m sandbox.nixos_target switch --flake DIR#VM --target-host root@IP --state-dir S`
behaves like `nixos-rebuild switch` pointed at a sandbox VM: it validates the generated
deployment in DIR, prints nixos-rebuild's progress lines and records in `S/<VM>.json` which
configuration the VM now runs. `records(S)` gives those records to tests.
"""

from sandbox.nixos_target.state import records

__all__ = ["records"]
